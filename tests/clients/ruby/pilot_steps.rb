# What fastlane `pilot` does through Spaceship::ConnectAPI with an API key, one step per run:
#
#   ruby -rbundler/setup pilot_steps.rb STEP [ARG...]
#
# The bundled fastlane 2.146.1 (npm @expo/traveling-fastlane-linux, with its own Ruby 2.2.2) is
# used unmodified except for the base URL: spaceship hard-codes Apple's host in
# ConnectAPI::Client#initialize, so a `prepend` points the Faraday client at CRABAPPLE_CLIENT_URL
# (docs: clients.md §3.4). Without CRABAPPLE_CLIENT_URL nothing is patched: spaceship talks to
# Apple's host, which crabapple's proxy serves (HTTPS_PROXY, SSL_CERT_FILE; issue 13). Key: CRABAPPLE_KEY_ID, CRABAPPLE_ISSUER_ID, CRABAPPLE_KEY_PATH.
#
# Every step prints one JSON line on stdout (the last line) that the pytest suite
# tests/clients/python/test_fastlane.py checks with exact values; a spaceship exception exits 1 with
# its class and message on stderr.

require 'json'
require 'spaceship'

module CrabappleBaseUrl
  def initialize(cookie: nil, current_team_id: nil, token: nil)
    super
    url = ENV['CRABAPPLE_CLIENT_URL'].to_s
    @client.url_prefix = url.chomp('/') + '/v1/' if token && !url.empty?
  end
end
Spaceship::ConnectAPI::Client.prepend(CrabappleBaseUrl)

Spaceship::ConnectAPI.token = Spaceship::ConnectAPI::Token.create(
  key_id: ENV.fetch('CRABAPPLE_KEY_ID'),
  issuer_id: ENV.fetch('CRABAPPLE_ISSUER_ID'),
  filepath: ENV.fetch('CRABAPPLE_KEY_PATH')
)

API = Spaceship::ConnectAPI
TESTER_INCLUDES = 'apps,betaGroups'.freeze

def app_for(bundle_id)
  app = API::App.find(bundle_id)
  raise "no app with bundle id #{bundle_id}" unless app
  app
end

def build_json(b)
  {
    id: b.id, version: b.version, processingState: b.processing_state, expired: b.expired,
    usesNonExemptEncryption: b.uses_non_exempt_encryption,
    app: b.app && b.app.id,
    buildBetaDetail: b.build_beta_detail && {
      id: b.build_beta_detail.id,
      internalBuildState: b.build_beta_detail.internal_build_state,
      externalBuildState: b.build_beta_detail.external_build_state,
      autoNotifyEnabled: b.build_beta_detail.auto_notify_enabled
    },
    preReleaseVersion: b.pre_release_version && b.pre_release_version.version
  }
end

def group_json(g)
  {
    id: g.id, name: g.name, isInternalGroup: g.is_internal_group,
    publicLinkEnabled: g.public_link_enabled, publicLinkId: g.public_link_id,
    publicLink: g.public_link, publicLinkLimitEnabled: g.public_link_limit_enabled,
    publicLinkLimit: g.public_link_limit, createdDate: g.created_date
  }
end

def review_detail_json(d)
  {
    id: d.id, contactFirstName: d.contact_first_name, contactLastName: d.contact_last_name,
    contactPhone: d.contact_phone, contactEmail: d.contact_email,
    demoAccountName: d.demo_account_name, demoAccountRequired: d.demo_account_required,
    notes: d.notes
  }
end

step, *args = ARGV
out =
  case step
  when 'apps'
    # pilot's Manager#app: every app, then the one with the bundle id.
    apps = API::App.all
    app = app_for(args[0])
    { count: apps.size, ids: apps.map(&:id).sort, found: app.id, name: app.name, sku: app.sku,
      primaryLocale: app.primary_locale }
  when 'app_by_id'
    app = API::App.get(app_id: args[0])
    { id: app.id, bundleId: app.bundle_id }
  when 'builds'
    # BuildManager#distribute: the newest build of the app with app, buildBetaDetail and
    # preReleaseVersion included, refetched by id when one of them is missing.
    app = app_for(args[0])
    builds = API::Build.all(app_id: app.id, sort: '-uploadedDate', limit: 30)
    newest = builds.first
    refetched = newest && API::Build.get(build_id: newest.id)
    { count: builds.size, versions: builds.map(&:version), newest: newest && build_json(refetched) }
  when 'build'
    build_json(API::Build.get(build_id: args[0]))
  when 'review_detail'
    # pilot 2.146 reads the detail through the collection filtered by app.
    app = app_for(args[0])
    resp = API.get_beta_app_review_detail(filter: { app: app.id })
    details = resp.to_models
    { count: details.size, detail: details.first && review_detail_json(details.first) }
  when 'update_review_detail'
    # BuildManager#update_review_detail: PATCH betaAppReviewDetails/{app id}.
    app = app_for(args[0])
    attrs = JSON.parse(args[1])
    resp = API.patch_beta_app_review_detail(app_id: app.id, attributes: attrs)
    review_detail_json(resp.to_models.first)
  when 'localizations'
    app = app_for(args[0])
    locs = app.get_beta_app_localizations
    { localizations: locs.map { |l| { id: l.id, locale: l.locale, description: l.description, feedbackEmail: l.feedback_email } } }
  when 'update_localizations'
    # BuildManager#update_localized_app_review: PATCH the locales that exist, POST the others.
    app = app_for(args[0])
    info_by_lang = JSON.parse(args[1])
    existing = {}
    app.get_beta_app_localizations.each { |l| existing[l.locale] = l }
    done = []
    info_by_lang.each do |locale, info|
      attrs = {}
      attrs[:description] = info['description'] if info.key?('description')
      attrs[:feedbackEmail] = info['feedback_email'] if info.key?('feedback_email')
      loc = existing[locale]
      if loc
        API.patch_beta_app_localizations(localization_id: loc.id, attributes: attrs)
        done << ['PATCH', locale]
      else
        attrs[:locale] = locale
        API.post_beta_app_localizations(app_id: app.id, attributes: attrs)
        done << ['POST', locale]
      end
    end
    locs = app.get_beta_app_localizations
    { done: done, localizations: locs.map { |l| { locale: l.locale, description: l.description, feedbackEmail: l.feedback_email } }.sort_by { |l| l[:locale] } }
  when 'build_meta'
    # update_localized_build_review (what's new: PATCH the locale that exists, else POST) and
    # update_build_beta_details (PATCH the build's beta detail when the build includes one).
    build = API::Build.get(build_id: args[0])
    whats_new = args[1]
    existing = build.get_beta_build_localizations.find { |l| l.locale == 'en-US' }
    if existing
      API.patch_beta_build_localizations(localization_id: existing.id, attributes: { whatsNew: whats_new })
    else
      API.post_beta_build_localizations(build_id: build.id, attributes: { whatsNew: whats_new, locale: 'en-US' })
    end
    detail = build.build_beta_detail
    API.patch_build_beta_details(build_beta_details_id: detail.id, attributes: { autoNotifyEnabled: true }) if detail
    again = API::Build.get(build_id: args[0])
    { localizations: again.get_beta_build_localizations.map { |l| [l.locale, l.whats_new] },
      patched: existing ? 'PATCH' : 'POST',
      buildBetaDetail: again.build_beta_detail && { id: again.build_beta_detail.id,
                                                    autoNotifyEnabled: again.build_beta_detail.auto_notify_enabled } }
  when 'create_group'
    app = app_for(args[0])
    g = app.create_beta_group(group_name: args[1], public_link_enabled: args[2] == 'public',
                              public_link_limit: 10_000, public_link_limit_enabled: false)
    listed = app.get_beta_groups.find { |x| x.id == g.id }
    { created: group_json(g), listed: listed && group_json(listed) }
  when 'groups'
    app = app_for(args[0])
    { groups: app.get_beta_groups.map { |g| group_json(g) }.sort_by { |g| g[:name] } }
  when 'add_tester'
    # pilot 2.146 adds testers through bulkBetaTesterAssignments, an endpoint Apple removed from
    # the API; today's pilot POSTs /v1/betaTesters with the groups, sent here through the same
    # spaceship client.
    app = app_for(args[0])
    group = app.get_beta_groups.find { |g| g.name == args[1] }
    raise "no group #{args[1]}" unless group
    body = { data: { type: 'betaTesters',
                     attributes: { email: args[2], firstName: 'Crab', lastName: 'Tester' },
                     relationships: { betaGroups: { data: [{ type: 'betaGroups', id: group.id }] } } } }
    created = API::TestFlight::Client.instance.post('betaTesters', body).body['data']
    # TesterManager#find_app_tester, without `betaTesterMetrics`: Apple's spec no longer lists that
    # relationship, so Apple answers its include with 400 PARAMETER_ERROR.INVALID.
    t = app.get_beta_testers(filter: { email: args[2] }, includes: TESTER_INCLUDES).first
    attrs = created['attributes']
    { created: { id: created['id'], email: attrs['email'], inviteType: attrs['inviteType'], state: attrs['state'] },
      found: t && { id: t.id, email: t.email, firstName: t.first_name, lastName: t.last_name, inviteType: t.invite_type,
                    apps: (t.apps || []).map(&:id), betaGroups: (t.beta_groups || []).map(&:name) } }
  when 'find_tester_legacy'
    # TesterManager#find_app_tester exactly as pilot 2.146 sends it.
    app = app_for(args[0])
    t = app.get_beta_testers(filter: { email: args[1] }, includes: 'apps,betaTesterMetrics,betaGroups').first
    { found: t && t.id }
  when 'remove_tester'
    # TesterManager#remove_tester: from the named groups, or from the app when none is named.
    app = app_for(args[0])
    t = app.get_beta_testers(filter: { email: args[1] }, includes: TESTER_INCLUDES).first
    raise "tester #{args[1]} not found" unless t
    if args[2]
      groups = (t.beta_groups || []).select { |g| g.name == args[2] }
      t.delete_from_beta_groups(beta_groups: groups)
    else
      t.delete_from_apps(apps: [app])
    end
    again = app.get_beta_testers(filter: { email: args[1] }, includes: 'apps,betaGroups').first
    { removed: t.id, still_in_app: !again.nil?,
      betaGroups: again ? (again.beta_groups || []).map(&:name) : [] }
  when 'distribute'
    # BuildManager#distribute_build with `groups:`: the app's groups by name, then
    # POST builds/{id}/relationships/betaGroups.
    app = app_for(args[0])
    build = API::Build.get(build_id: args[1])
    groups = app.get_beta_groups.select { |g| g.name == args[2] }
    build.add_beta_groups(beta_groups: groups)
    client = API::TestFlight::Client.instance
    builds_of_group = groups.map { |g| client.get("betaGroups/#{g.id}/builds").to_models.map(&:id) }
    { groups: groups.map(&:id), buildsOfGroups: builds_of_group }
  when 'license'
    app = app_for(args[0])
    resp = API::TestFlight::Client.instance.get("apps/#{app.id}/betaLicenseAgreement")
    data = resp.body['data']
    { data: data && { type: data['type'], id: data['id'], agreementText: data['attributes']['agreementText'] } }
  when 'update_license'
    app = app_for(args[0])
    lic = API::TestFlight::Client.instance.get("apps/#{app.id}/betaLicenseAgreement").body['data']
    raise 'the app has no beta license agreement' unless lic
    body = { data: { type: 'betaLicenseAgreements', id: lic['id'], attributes: { agreementText: args[1] } } }
    resp = API::TestFlight::Client.instance.patch("betaLicenseAgreements/#{lic['id']}", body)
    { id: resp.body['data']['id'], agreementText: resp.body['data']['attributes']['agreementText'] }
  else
    abort "unknown step #{step.inspect}"
  end

puts JSON.generate(out)
