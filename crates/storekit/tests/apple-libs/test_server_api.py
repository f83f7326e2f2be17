"""Apple's unmodified Python AppStoreServerAPIClient and SignedDataVerifier against crabapple:
every client method of the App Store Server API over real ledger state, with its error paths,
and every signed payload crabapple produces verified (and rejected for the wrong app or
environment)."""

import uuid
import warnings

import pytest
import requests
from appstoreserverlibrary.api_client import APIError, APIException, GetTransactionHistoryVersion
from appstoreserverlibrary.models.ConsumptionRequest import ConsumptionRequest
from appstoreserverlibrary.models.ConsumptionRequestV1 import ConsumptionRequestV1
from appstoreserverlibrary.models.DeliveryStatus import DeliveryStatus
from appstoreserverlibrary.models.Environment import Environment
from appstoreserverlibrary.models.ExtendReasonCode import ExtendReasonCode
from appstoreserverlibrary.models.ExtendRenewalDateRequest import ExtendRenewalDateRequest
from appstoreserverlibrary.models.InAppOwnershipType import InAppOwnershipType
from appstoreserverlibrary.models.MassExtendRenewalDateRequest import MassExtendRenewalDateRequest
from appstoreserverlibrary.models.NotificationHistoryRequest import NotificationHistoryRequest
from appstoreserverlibrary.models.NotificationTypeV2 import NotificationTypeV2
from appstoreserverlibrary.models.OfferDiscountType import OfferDiscountType
from appstoreserverlibrary.models.OfferType import OfferType
from appstoreserverlibrary.models.OrderLookupStatus import OrderLookupStatus
from appstoreserverlibrary.models.RefundPreference import RefundPreference
from appstoreserverlibrary.models.SendAttemptResult import SendAttemptResult
from appstoreserverlibrary.models.Status import Status
from appstoreserverlibrary.models.Subtype import Subtype
from appstoreserverlibrary.models.TransactionHistoryRequest import Order, ProductType, TransactionHistoryRequest
from appstoreserverlibrary.models.UpdateAppAccountTokenRequest import UpdateAppAccountTokenRequest
from appstoreserverlibrary.signed_data_verifier import VerificationException, VerificationStatus

from conftest import ADMIN, BASE, admin, advance, event, make_client, now_ms, wait_for

DAY = 86_400_000

warnings.filterwarnings("ignore", category=DeprecationWarning)


def api_error(fn, *args):
    with pytest.raises(APIException) as e:
        fn(*args)
    return e.value


def buy(w, product, customer, env="sandbox", **kw):
    return event("purchase", bundleId=w.bundle, productId=product, customer=customer, environment=env, **kw)


# ------------------------------------------------------------------------------------------------
# Transactions
# ------------------------------------------------------------------------------------------------

def test_get_transaction_info(world, sandbox, production, verifiers):
    p = buy(world, world.gems, "info")
    r = sandbox.get_transaction_info(p["transactionId"])
    t = verifiers["Sandbox"].verify_and_decode_signed_transaction(r.signedTransactionInfo)
    assert t.transactionId == p["transactionId"]
    assert t.productId == world.gems and t.bundleId == world.bundle
    assert t.environment == Environment.SANDBOX and t.price == 990 and t.currency == "USD"
    assert t.storefront == "USA" and t.storefrontId == "143441"
    # The production endpoint doesn't know sandbox transactions (environment discovery, §6).
    e = api_error(production.get_transaction_info, p["transactionId"])
    assert (e.http_status_code, e.api_error) == (404, APIError.TRANSACTION_ID_NOT_FOUND)
    e = api_error(sandbox.get_transaction_info, "999999999999")
    assert e.api_error == APIError.TRANSACTION_ID_NOT_FOUND
    e = api_error(sandbox.get_transaction_info, "not-a-number")
    assert (e.http_status_code, e.api_error) == (400, APIError.INVALID_TRANSACTION_ID)
    # Production transactions verify for production only, with the app's Apple ID.
    pp = buy(world, world.gems, "info", env="production")
    r = production.get_transaction_info(pp["transactionId"])
    verifiers["Production"].verify_and_decode_signed_transaction(r.signedTransactionInfo)
    with pytest.raises(VerificationException) as v:
        verifiers["Sandbox"].verify_and_decode_signed_transaction(r.signedTransactionInfo)
    assert v.value.status == VerificationStatus.INVALID_ENVIRONMENT


def test_transaction_history_paging_and_filters(world, sandbox):
    first = buy(world, world.gems, "hist")
    for _ in range(44):
        buy(world, world.gems, "hist")
    sub = buy(world, world.monthly, "hist")
    life = buy(world, world.lifetime, "hist")
    event("refund", transactionId=life["transactionId"])
    # v2, 20 per page, revision paging, every transaction once, in modification order.
    seen, revision, pages = [], None, 0
    while True:
        h = sandbox.get_transaction_history(first["transactionId"], revision, TransactionHistoryRequest(),
                                            GetTransactionHistoryVersion.V2)
        assert h.bundleId == world.bundle and h.environment == Environment.SANDBOX
        assert h.appAppleId == world.app_apple_id
        assert len(h.signedTransactions) <= 20
        seen += h.signedTransactions
        pages += 1
        revision = h.revision
        if not h.hasMore:
            break
    assert pages == 3 and len(seen) == 47
    # Filters (multiple values OR, different filters AND).
    def count(req, version=GetTransactionHistoryVersion.V2):
        n, rev = 0, None
        while True:
            h = sandbox.get_transaction_history(first["transactionId"], rev, req, version)
            n += len(h.signedTransactions)
            rev = h.revision
            if not h.hasMore:
                return n
    assert count(TransactionHistoryRequest(productTypes=[ProductType.AUTO_RENEWABLE])) == 1
    assert count(TransactionHistoryRequest(productTypes=[ProductType.CONSUMABLE, ProductType.NON_CONSUMABLE])) == 46
    assert count(TransactionHistoryRequest(productIds=[world.lifetime, world.monthly])) == 2
    assert count(TransactionHistoryRequest(revoked=True)) == 1
    assert count(TransactionHistoryRequest(revoked=False)) == 46
    assert count(TransactionHistoryRequest(subscriptionGroupIdentifiers=[world.group])) == 1
    assert count(TransactionHistoryRequest(inAppOwnershipType=InAppOwnershipType.FAMILY_SHARED)) == 0
    assert count(TransactionHistoryRequest(startDate=first["transaction"]["purchaseDate"] + 1,
                                           endDate=now_ms() + DAY)) <= 46
    desc = sandbox.get_transaction_history(sub["transactionId"], None, TransactionHistoryRequest(sort=Order.DESCENDING),
                                           GetTransactionHistoryVersion.V2)
    asc = sandbox.get_transaction_history(sub["transactionId"], None, TransactionHistoryRequest(sort=Order.ASCENDING),
                                          GetTransactionHistoryVersion.V2)
    assert desc.signedTransactions[0] != asc.signedTransactions[0]
    # v1 leaves out consumables the app finished (Finish Transaction, API 1.20).
    before = count(TransactionHistoryRequest(), GetTransactionHistoryVersion.V1)
    sandbox.finish_transaction(first["transactionId"])
    assert count(TransactionHistoryRequest(), GetTransactionHistoryVersion.V1) == before - 1
    assert count(TransactionHistoryRequest()) == 47
    # Errors.
    e = api_error(sandbox.get_transaction_history, first["transactionId"], "garbage", TransactionHistoryRequest(),
                  GetTransactionHistoryVersion.V2)
    assert e.api_error == APIError.INVALID_REQUEST_REVISION
    e = api_error(sandbox.get_transaction_history, first["transactionId"], None,
                  TransactionHistoryRequest(startDate=2000, endDate=1000), GetTransactionHistoryVersion.V2)
    assert e.api_error == APIError.START_DATE_AFTER_END_DATE
    e = api_error(sandbox.get_transaction_history, "1", None, TransactionHistoryRequest(), GetTransactionHistoryVersion.V2)
    assert e.api_error == APIError.TRANSACTION_ID_NOT_FOUND
    e = api_error(sandbox.finish_transaction, "123")
    assert e.api_error == APIError.TRANSACTION_ID_NOT_FOUND


def test_all_subscription_statuses(world, sandbox, verifiers):
    a = buy(world, world.monthly, "status-a")
    event("fail-renewal", transactionId=a["transactionId"], now=True, gracePeriod=True)
    s = sandbox.get_all_subscription_statuses(a["transactionId"])
    assert s.bundleId == world.bundle and s.environment == Environment.SANDBOX
    (group,) = s.data
    assert group.subscriptionGroupIdentifier == world.group
    (last,) = group.lastTransactions
    assert last.status == Status.BILLING_GRACE_PERIOD
    assert last.originalTransactionId == a["originalTransactionId"]
    t = verifiers["Sandbox"].verify_and_decode_signed_transaction(last.signedTransactionInfo)
    r = verifiers["Sandbox"].verify_and_decode_renewal_info(last.signedRenewalInfo)
    assert t.productId == world.monthly and r.autoRenewProductId == world.monthly
    assert r.isInBillingRetryPeriod is True and r.gracePeriodExpiresDate
    assert sandbox.get_all_subscription_statuses(a["transactionId"], [Status.ACTIVE]).data == []
    assert len(sandbox.get_all_subscription_statuses(a["transactionId"], [Status.ACTIVE, Status.BILLING_GRACE_PERIOD]).data) == 1
    # The customer's app transaction id works too (any id).
    at = a["appTransactionId"]
    assert len(sandbox.get_all_subscription_statuses(at).data) == 1
    e = api_error(sandbox.get_all_subscription_statuses, "77")
    assert e.api_error == APIError.TRANSACTION_ID_NOT_FOUND


def test_refund_history(world, sandbox, verifiers):
    p = [buy(world, world.gems, "refunds") for _ in range(23)]
    for x in p:
        event("refund", transactionId=x["transactionId"], revocationReason=1)
    r1 = sandbox.get_refund_history(p[0]["transactionId"], None)
    assert len(r1.signedTransactions) == 20 and r1.hasMore
    r2 = sandbox.get_refund_history(p[0]["transactionId"], r1.revision)
    assert len(r2.signedTransactions) == 3 and not r2.hasMore
    t = verifiers["Sandbox"].verify_and_decode_signed_transaction(r2.signedTransactions[-1])
    assert t.revocationDate and t.revocationReason == 1 and t.revocationType.value == "REFUND_FULL"
    # A reversed refund leaves the refund history.
    event("refund-reversed", transactionId=p[-1]["transactionId"])
    total = len(sandbox.get_refund_history(p[0]["transactionId"], None).signedTransactions) + \
        len(sandbox.get_refund_history(p[0]["transactionId"], r1.revision).signedTransactions)
    assert total == 22
    e = api_error(sandbox.get_refund_history, p[0]["transactionId"], "nope")
    assert e.api_error == APIError.INVALID_REQUEST_REVISION


def test_send_consumption_information(world, sandbox):
    g = buy(world, world.gems, "consume")
    event("consumption-request", transactionId=g["transactionId"], reason="UNINTENDED_PURCHASE")
    # v2: 202, no body.
    assert sandbox.send_consumption_information(g["transactionId"], ConsumptionRequest(
        customerConsented=True, sampleContentProvided=False, deliveryStatus=DeliveryStatus.DELIVERED,
        consumptionPercentage=25000, refundPreference=RefundPreference.GRANT_PRORATED)) is None
    def v2_err(**kw):
        base = dict(customerConsented=True, sampleContentProvided=False, deliveryStatus=DeliveryStatus.DELIVERED)
        base.update(kw)
        return api_error(sandbox.send_consumption_information, g["transactionId"], ConsumptionRequest(**base))
    assert v2_err(customerConsented=False).api_error == APIError.INVALID_CUSTOMER_CONSENTED
    assert v2_err(consumptionPercentage=100001).raw_api_error == 4000189
    assert v2_err(deliveryStatus=DeliveryStatus.UNDELIVERED_QUALITY_ISSUE, consumptionPercentage=10).raw_api_error == 4000190
    assert v2_err(refundPreference=RefundPreference.GRANT_PRORATED).raw_api_error == 4000189
    e = api_error(sandbox.send_consumption_information, g["transactionId"], ConsumptionRequest(
        customerConsented=True, sampleContentProvided=False, rawDeliveryStatus="MAYBE"))
    assert e.api_error == APIError.INVALID_DELIVERY_STATUS and e.http_status_code == 400
    s = buy(world, world.monthly, "consume-sub")
    e = api_error(sandbox.send_consumption_information, s["transactionId"], ConsumptionRequest(
        customerConsented=True, sampleContentProvided=True, deliveryStatus=DeliveryStatus.DELIVERED,
        consumptionPercentage=0))
    assert e.raw_api_error == 4000191
    e = api_error(sandbox.send_consumption_information, g["appTransactionId"], ConsumptionRequest(
        customerConsented=True, sampleContentProvided=True, deliveryStatus=DeliveryStatus.DELIVERED))
    assert e.api_error == APIError.APP_TRANSACTION_ID_NOT_SUPPORTED_ERROR
    fam = buy(world, world.monthly, "consume-fam", familyShared=True)
    e = api_error(sandbox.send_consumption_information, fam["transactionId"], ConsumptionRequest(
        customerConsented=True, sampleContentProvided=True, deliveryStatus=DeliveryStatus.DELIVERED))
    assert e.api_error == APIError.FAMILY_TRANSACTION_NOT_SUPPORTED_ERROR
    # v1 (deprecated): every field validated with Apple's codes.
    # Enum fields go through the library's raw* attributes so invalid values can be sent too.
    ok = dict(customerConsented=True, rawConsumptionStatus=1, rawPlatform=1, sampleContentProvided=False,
              rawDeliveryStatus=0, appAccountToken="", rawAccountTenure=3, rawPlayTime=2,
              rawLifetimeDollarsRefunded=0, rawLifetimeDollarsPurchased=1, rawUserStatus=1, rawRefundPreference=2)
    assert sandbox.send_consumption_data(g["transactionId"], ConsumptionRequestV1(**ok)) is None
    for field, bad, code in [
        ("customerConsented", False, APIError.INVALID_CUSTOMER_CONSENTED),
        ("rawConsumptionStatus", 9, APIError.INVALID_CONSUMPTION_STATUS),
        ("rawPlatform", 9, APIError.INVALID_PLATFORM),
        ("rawDeliveryStatus", 9, APIError.INVALID_DELIVERY_STATUS),
        ("rawAccountTenure", 9, APIError.INVALID_ACCOUNT_TENURE),
        ("rawPlayTime", 9, APIError.INVALID_PLAY_TIME),
        ("rawLifetimeDollarsRefunded", 9, APIError.INVALID_LIFETIME_DOLLARS_REFUNDED),
        ("rawLifetimeDollarsPurchased", 9, APIError.INVALID_LIFETIME_DOLLARS_PURCHASED),
        ("rawUserStatus", 9, APIError.INVALID_USER_STATUS),
        ("appAccountToken", "nope", APIError.INVALID_APP_ACCOUNT_TOKEN),
    ]:
        body = dict(ok)
        body[field] = bad
        e = api_error(sandbox.send_consumption_data, g["transactionId"], ConsumptionRequestV1(**body))
        assert e.api_error == code, field
    e = api_error(sandbox.send_consumption_data, "31337", ConsumptionRequestV1(**ok))
    assert e.api_error == APIError.TRANSACTION_ID_NOT_FOUND


def test_look_up_order_id(world, sandbox, production, verifiers):
    p = buy(world, world.gems, "order", env="production")
    r = production.look_up_order_id(p["orderId"])
    assert r.status == OrderLookupStatus.VALID and len(r.signedTransactions) == 1
    assert verifiers["Production"].verify_and_decode_signed_transaction(r.signedTransactions[0]).transactionId == p["transactionId"]
    assert production.look_up_order_id("MNOPE12345").status == OrderLookupStatus.INVALID
    # Not available in the sandbox.
    s = buy(world, world.gems, "order")
    r = sandbox.look_up_order_id(s["orderId"])
    assert r.status == OrderLookupStatus.INVALID and r.signedTransactions == []


# ------------------------------------------------------------------------------------------------
# Renewal-date extensions
# ------------------------------------------------------------------------------------------------

def test_extend_subscription_renewal_date(world, sandbox, verifiers):
    s = buy(world, world.monthly, "extend")
    orig = s["originalTransactionId"]
    before = s["subscription"]["expiresDate"]
    r = sandbox.extend_subscription_renewal_date(orig, ExtendRenewalDateRequest(
        extendByDays=30, extendReasonCode=ExtendReasonCode.CUSTOMER_SATISFACTION, requestIdentifier=str(uuid.uuid4())))
    assert r.success and r.originalTransactionId == orig and r.webOrderLineItemId
    assert r.effectiveDate == before + 30 * 10_000, "30 days are 300 sandbox seconds"
    latest = verifiers["Sandbox"].verify_and_decode_signed_transaction(sandbox.get_transaction_info(orig).signedTransactionInfo)
    assert latest.expiresDate == r.effectiveDate
    # The same requestIdentifier is idempotent.
    rid = str(uuid.uuid4())
    r2 = sandbox.extend_subscription_renewal_date(orig, ExtendRenewalDateRequest(
        extendByDays=1, extendReasonCode=ExtendReasonCode.OTHER, requestIdentifier=rid))
    r3 = sandbox.extend_subscription_renewal_date(orig, ExtendRenewalDateRequest(
        extendByDays=1, extendReasonCode=ExtendReasonCode.OTHER, requestIdentifier=rid))
    assert r2.effectiveDate == r3.effectiveDate
    # At most twice per 365 days.
    e = api_error(sandbox.extend_subscription_renewal_date, orig, ExtendRenewalDateRequest(
        extendByDays=1, extendReasonCode=ExtendReasonCode.OTHER, requestIdentifier=str(uuid.uuid4())))
    assert (e.http_status_code, e.api_error) == (403, APIError.SUBSCRIPTION_MAX_EXTENSION)
    e = api_error(sandbox.extend_subscription_renewal_date, orig, ExtendRenewalDateRequest(
        extendByDays=91, extendReasonCode=ExtendReasonCode.OTHER, requestIdentifier="x"))
    assert e.api_error == APIError.INVALID_EXTEND_BY_DAYS
    e = api_error(sandbox.extend_subscription_renewal_date, orig, ExtendRenewalDateRequest(
        extendByDays=3, extendReasonCode=ExtendReasonCode.OTHER))
    assert e.api_error == APIError.INVALID_REQUEST_IDENTIFIER
    renewed = event("renew", transactionId=orig)
    e = api_error(sandbox.extend_subscription_renewal_date, renewed["transactionId"], ExtendRenewalDateRequest(
        extendByDays=3, extendReasonCode=ExtendReasonCode.OTHER, requestIdentifier="y"))
    assert e.api_error == APIError.TRANSACTION_ID_IS_NOT_ORIGINAL_TRANSACTION_ID_ERROR
    trial = buy(world, world.monthly, "extend-trial", offer={"type": "introductory"})
    e = api_error(sandbox.extend_subscription_renewal_date, trial["originalTransactionId"], ExtendRenewalDateRequest(
        extendByDays=3, extendReasonCode=ExtendReasonCode.OTHER, requestIdentifier="z"))
    assert e.api_error == APIError.SUBSCRIPTION_EXTENSION_INELIGIBLE
    fam = buy(world, world.monthly, "extend-fam", familyShared=True)
    e = api_error(sandbox.extend_subscription_renewal_date, fam["originalTransactionId"], ExtendRenewalDateRequest(
        extendByDays=3, extendReasonCode=ExtendReasonCode.OTHER, requestIdentifier="f"))
    assert e.api_error == APIError.FAMILY_SHARED_SUBSCRIPTION_EXTENSION_INELIGIBLE


def test_mass_extension(world, sandbox, receiver, verifiers):
    subs = [buy(world, world.yearly, f"mass-{i}") for i in range(3)]
    trial = buy(world, world.yearly, "mass-trial", offer={"type": "introductory"})
    rid = str(uuid.uuid4())
    r = sandbox.extend_renewal_date_for_all_active_subscribers(MassExtendRenewalDateRequest(
        extendByDays=7, extendReasonCode=ExtendReasonCode.SERVICE_ISSUE_OR_OUTAGE, requestIdentifier=rid,
        productId=world.yearly, storefrontCountryCodes=["USA"]))
    assert r.requestIdentifier == rid
    st = wait_for(lambda: (s := sandbox.get_status_of_subscription_renewal_date_extensions(rid, world.yearly)).complete and s,
                  what="mass extension")
    assert st.succeededCount >= 3 and st.failedCount >= 1 and st.completeDate
    def summary():
        for p in receiver.payloads(f"{world.tag}/sandbox/ok"):
            n = verifiers["Sandbox"].verify_and_decode_notification(p)
            if n.summary and n.summary.requestIdentifier == rid:
                return n
    n = wait_for(summary, what="RENEWAL_EXTENSION/SUMMARY")
    assert n.notificationType == NotificationTypeV2.RENEWAL_EXTENSION and n.subtype == Subtype.SUMMARY
    assert n.summary.productId == world.yearly and n.summary.succeededCount == st.succeededCount
    e = api_error(sandbox.get_status_of_subscription_renewal_date_extensions, str(uuid.uuid4()), world.yearly)
    assert e.api_error == APIError.STATUS_REQUEST_NOT_FOUND
    e = api_error(sandbox.extend_renewal_date_for_all_active_subscribers, MassExtendRenewalDateRequest(
        extendByDays=7, extendReasonCode=ExtendReasonCode.OTHER, requestIdentifier=str(uuid.uuid4()),
        productId=world.yearly, storefrontCountryCodes=[]))
    assert e.api_error == APIError.INVALID_EMPTY_STOREFRONT_COUNTRY_CODE_LIST
    e = api_error(sandbox.extend_renewal_date_for_all_active_subscribers, MassExtendRenewalDateRequest(
        extendByDays=7, extendReasonCode=ExtendReasonCode.OTHER, requestIdentifier="not-a-uuid", productId=world.yearly))
    assert e.api_error == APIError.INVALID_REQUEST_IDENTIFIER
    assert subs and trial


# ------------------------------------------------------------------------------------------------
# Notifications
# ------------------------------------------------------------------------------------------------

def test_test_notification(world, sandbox, production, verifiers):
    for client, env in [(sandbox, "Sandbox"), (production, "Production")]:
        token = client.request_test_notification().testNotificationToken
        st = wait_for(lambda: _status(client, token), what="test notification status")
        assert st.sendAttempts[0].sendAttemptResult == SendAttemptResult.SUCCESS
        n = verifiers[env].verify_and_decode_notification(st.signedPayload)
        assert n.notificationType == NotificationTypeV2.TEST and n.data.bundleId == world.bundle
    e = api_error(sandbox.get_test_notification_status, "garbage")
    assert e.api_error == APIError.INVALID_TEST_NOTIFICATION_TOKEN
    e = api_error(sandbox.get_test_notification_status, f"{uuid.uuid4()}_1700000000000")
    assert e.api_error == APIError.TEST_NOTIFICATION_NOT_FOUND
    # No URL configured → 4040007.
    world.asc("PATCH", f"/v1/apps/{world.app_id}", {"data": {"type": "apps", "id": world.app_id,
              "attributes": {"subscriptionStatusUrlForSandbox": None}}})
    try:
        e = api_error(sandbox.request_test_notification)
        assert (e.http_status_code, e.api_error) == (404, APIError.SERVER_NOTIFICATION_URL_NOT_FOUND)
    finally:
        admin("PUT", f"/commerce/apps/{world.bundle}/notification-urls",
              {"sandbox": f"http://127.0.0.1:{_port(world)}/{world.tag}/sandbox/ok"})


def _status(client, token):
    try:
        return client.get_test_notification_status(token)
    except APIException as e:
        assert e.api_error == APIError.TEST_NOTIFICATION_NOT_FOUND
        return None


def _port(world):
    urls = admin("GET", f"/commerce/apps/{world.bundle}/notification-urls")
    return urls["production"].split(":")[2].split("/")[0]


def test_notification_history(world, sandbox, verifiers):
    start = now_ms() - 1000
    g = buy(world, world.gems, "nh")
    for _ in range(24):
        buy(world, world.gems, "nh-other")
    s = buy(world, world.monthly, "nh")
    event("auto-renew", transactionId=s["transactionId"], enabled=False)
    wait_for(lambda: all(n["state"] != "pending" for n in admin("GET", f"/commerce/notifications?bundleId={world.bundle}&limit=60")["data"]),
             what="deliveries")
    end = now_ms() + 1000
    items, token = [], None
    while True:
        r = sandbox.get_notification_history(token, NotificationHistoryRequest(startDate=start, endDate=end))
        items += r.notificationHistory
        assert len(r.notificationHistory) <= 20
        if not r.hasMore:
            break
        token = r.paginationToken
    assert len(items) >= 27
    for it in items:
        verifiers["Sandbox"].verify_and_decode_notification(it.signedPayload)
        assert it.sendAttempts and it.sendAttempts[0].sendAttemptResult == SendAttemptResult.SUCCESS
    # By customer (transactionId), by type and subtype.
    r = sandbox.get_notification_history(None, NotificationHistoryRequest(startDate=start, endDate=end, transactionId=g["transactionId"]))
    kinds = sorted(verifiers["Sandbox"].verify_and_decode_notification(i.signedPayload).notificationType.value for i in r.notificationHistory)
    # transactionId narrows the history to that transaction's customer.
    assert kinds == ["DID_CHANGE_RENEWAL_STATUS", "ONE_TIME_CHARGE", "SUBSCRIBED"]
    r = sandbox.get_notification_history(None, NotificationHistoryRequest(
        startDate=start, endDate=end, notificationType=NotificationTypeV2.DID_CHANGE_RENEWAL_STATUS,
        notificationSubtype=Subtype.AUTO_RENEW_DISABLED))
    assert len(r.notificationHistory) == 1
    r = sandbox.get_notification_history(None, NotificationHistoryRequest(startDate=start, endDate=end, onlyFailures=True))
    assert r.notificationHistory == []
    # Errors.
    e = api_error(sandbox.get_notification_history, None, NotificationHistoryRequest(
        startDate=start, endDate=end, transactionId=g["transactionId"], notificationType=NotificationTypeV2.TEST))
    assert e.api_error == APIError.MULTIPLE_FILTERS_SUPPLIED
    e = api_error(sandbox.get_notification_history, None, NotificationHistoryRequest(startDate=now_ms() - 31 * DAY, endDate=end))
    assert e.api_error == APIError.START_DATE_TOO_FAR_IN_PAST, "the sandbox keeps 30 days"
    e = api_error(sandbox.get_notification_history, None, NotificationHistoryRequest(startDate=end, endDate=start))
    assert e.api_error == APIError.START_DATE_AFTER_END_DATE
    e = api_error(sandbox.get_notification_history, "bogus", NotificationHistoryRequest(startDate=start, endDate=end))
    assert e.api_error == APIError.INVALID_PAGINATION_TOKEN
    e = api_error(sandbox.get_notification_history, None, NotificationHistoryRequest(endDate=end))
    assert e.api_error == APIError.INVALID_START_DATE
    e = api_error(sandbox.get_notification_history, None, NotificationHistoryRequest(
        startDate=start, endDate=end, notificationSubtype=Subtype.UPGRADE))
    assert e.api_error == APIError.INVALID_NOTIFICATION_TYPE


def test_retry_schedule_failures_and_history(world, production, receiver, verifiers):
    # Point production at a failing endpoint: attempts at 0, +1 h, +13 h … on the virtual clock.
    admin("PUT", f"/commerce/apps/{world.bundle}/notification-urls", {"production": receiver.url(f"{world.tag}/prod/fail")})
    try:
        p = buy(world, world.gems, "retry", env="production")
        uuid_ = p["notifications"][0]["notificationUUID"]
        t0 = p["notifications"][0]["signedDate"]
        def attempts():
            n = next(x for x in admin("GET", f"/commerce/notifications?bundleId={world.bundle}&limit=200")["data"]
                     if x["notificationUUID"] == uuid_)
            return n
        wait_for(lambda: len(attempts()["sendAttempts"]) == 1, what="first attempt")
        advance("1h")
        advance("12h")
        n = attempts()
        assert [a["attemptDate"] - t0 for a in n["sendAttempts"]] == [0, 3_600_000, 13 * 3_600_000]
        assert {a["sendAttemptResult"] for a in n["sendAttempts"]} == {"UNSUCCESSFUL_HTTP_RESPONSE_CODE"}
        assert n["state"] == "pending"
        r = production.get_notification_history(None, NotificationHistoryRequest(
            startDate=t0 - 1, endDate=now_ms() + 1000, onlyFailures=True, transactionId=p["transactionId"]))
        (item,) = r.notificationHistory
        assert [a.sendAttemptResult for a in item.sendAttempts] == [SendAttemptResult.UNSUCCESSFUL_HTTP_RESPONSE_CODE] * 3
        verifiers["Production"].verify_and_decode_notification(item.signedPayload)
        advance("8d")
        n = attempts()
        assert n["state"] == "failed" and len(n["sendAttempts"]) == 6
    finally:
        admin("PUT", f"/commerce/apps/{world.bundle}/notification-urls", {"production": receiver.url(f"{world.tag}/prod/ok")})


def test_offer_redeemed_in_notification_history(world, sandbox, verifiers):
    """A promotional offer for a higher level redeemed on an active subscription: OFFER_REDEEMED/
    UPGRADE (§7), immediate, its transaction carrying the offer."""
    start = now_ms() - 1000
    s = buy(world, world.monthly, "offer-redeemed")
    r = buy(world, world.premium, "offer-redeemed", offer={
        "type": "promotional", "id": "PREMIUM_HALF", "discountType": "PAY_AS_YOU_GO", "price": 2490, "periods": 3})
    assert [(n["notificationType"], n.get("subtype")) for n in r["notifications"]] == [("OFFER_REDEEMED", "UPGRADE")]
    assert r["originalTransactionId"] == s["originalTransactionId"] and r["transactionId"] != s["transactionId"]
    h = sandbox.get_notification_history(None, NotificationHistoryRequest(
        startDate=start, endDate=now_ms() + 1000, notificationType=NotificationTypeV2.OFFER_REDEEMED))
    (item,) = [i for i in h.notificationHistory
               if verifiers["Sandbox"].verify_and_decode_notification(i.signedPayload).notificationUUID
               == r["notifications"][0]["notificationUUID"]]
    n = verifiers["Sandbox"].verify_and_decode_notification(item.signedPayload)
    assert n.notificationType == NotificationTypeV2.OFFER_REDEEMED and n.subtype == Subtype.UPGRADE
    assert n.data.status == Status.ACTIVE
    t = verifiers["Sandbox"].verify_and_decode_signed_transaction(n.data.signedTransactionInfo)
    assert t.transactionId == r["transactionId"] and t.originalTransactionId == s["originalTransactionId"]
    assert t.productId == world.premium and t.price == 2490
    assert t.offerType == OfferType.PROMOTIONAL_OFFER and t.offerIdentifier == "PREMIUM_HALF"
    assert t.offerDiscountType == OfferDiscountType.PAY_AS_YOU_GO
    ri = verifiers["Sandbox"].verify_and_decode_renewal_info(n.data.signedRenewalInfo)
    assert ri.autoRenewProductId == world.premium
    assert ri.offerType == OfferType.PROMOTIONAL_OFFER and ri.renewalPrice == 2490, "two more discounted periods"
    old = verifiers["Sandbox"].verify_and_decode_signed_transaction(
        sandbox.get_transaction_info(s["transactionId"]).signedTransactionInfo)
    assert old.isUpgraded is True


# ------------------------------------------------------------------------------------------------
# App account token, app transaction
# ------------------------------------------------------------------------------------------------

def test_set_app_account_token(world, sandbox, verifiers):
    s = buy(world, world.monthly, "token")
    token = str(uuid.uuid4())
    assert sandbox.set_app_account_token(s["originalTransactionId"], UpdateAppAccountTokenRequest(appAccountToken=token)) is None
    t = verifiers["Sandbox"].verify_and_decode_signed_transaction(sandbox.get_transaction_info(s["transactionId"]).signedTransactionInfo)
    assert t.appAccountToken == token
    e = api_error(sandbox.set_app_account_token, s["originalTransactionId"], UpdateAppAccountTokenRequest(appAccountToken="nope"))
    assert e.api_error == APIError.INVALID_APP_ACCOUNT_TOKEN_UUID_ERROR
    renewed = event("renew", transactionId=s["transactionId"])
    e = api_error(sandbox.set_app_account_token, renewed["transactionId"], UpdateAppAccountTokenRequest(appAccountToken=token))
    assert e.api_error == APIError.TRANSACTION_ID_IS_NOT_ORIGINAL_TRANSACTION_ID_ERROR
    fam = buy(world, world.monthly, "token-fam", familyShared=True)
    e = api_error(sandbox.set_app_account_token, fam["originalTransactionId"], UpdateAppAccountTokenRequest(appAccountToken=token))
    assert e.api_error == APIError.FAMILY_TRANSACTION_NOT_SUPPORTED_ERROR


def test_get_app_transaction_info(world, sandbox, production, verifiers):
    for client, env, name in [(sandbox, "sandbox", "Sandbox"), (production, "production", "Production")]:
        p = buy(world, world.gems, "apptx", env=env)
        for any_id in [p["transactionId"], p["appTransactionId"]]:
            r = client.get_app_transaction_info(any_id)
            a = verifiers[name].verify_and_decode_app_transaction(r.signedAppTransactionInfo)
            assert a.bundleId == world.bundle and a.appTransactionId == p["appTransactionId"]
    e = api_error(sandbox.get_app_transaction_info, "4242")
    assert e.api_error == APIError.TRANSACTION_ID_NOT_FOUND


# ------------------------------------------------------------------------------------------------
# Auth and rate limits
# ------------------------------------------------------------------------------------------------

def test_auth_rejections_are_bare_401s(world, sandbox):
    p = buy(world, world.gems, "auth")
    other = make_client(world, Environment.SANDBOX, bundle="com.example.not.ours")
    e = api_error(other.get_transaction_info, p["transactionId"])
    assert (e.http_status_code, e.api_error, e.raw_api_error) == (401, None, None)
    asc_key = make_client(world, Environment.SANDBOX, key_pem=open(world.team_key["keyPath"], "rb").read(),
                          key_id=world.team_key["keyId"])
    e = api_error(asc_key.get_transaction_info, p["transactionId"])
    assert e.http_status_code == 401
    r = requests.get(f"{BASE}/sandbox/inApps/v1/transactions/{p['transactionId']}", timeout=10)
    assert r.status_code == 401 and r.content == b"" and r.headers.get("x-crabapple-reason")


def test_rate_limit_is_429_with_retry_after_ms(world, sandbox):
    admin("PUT", "/commerce/settings", {"rateLimitScale": 0.000001})
    try:
        sandbox.request_test_notification()
        e = api_error(sandbox.request_test_notification)
        assert (e.http_status_code, e.api_error) == (429, APIError.RATE_LIMIT_EXCEEDED)
        r = requests.post(f"{BASE}/sandbox/inApps/v1/notifications/test", timeout=10,
                          headers={"Authorization": "Bearer " + sandbox._generate_token()})
        assert r.status_code == 429 and r.headers["content-type"] == "application/json"
        assert int(r.headers["retry-after"]) > 1_600_000_000_000, "epoch milliseconds"
    finally:
        admin("PUT", "/commerce/settings", {"rateLimitScale": 1.0})


def test_error_bodies_are_exactly_application_json(world, sandbox):
    r = requests.get(f"{BASE}/sandbox/inApps/v1/transactions/abc", timeout=10,
                     headers={"Authorization": "Bearer " + sandbox._generate_token()})
    assert r.status_code == 400 and r.headers["content-type"] == "application/json"
    assert r.json() == {"errorCode": 4000006, "errorMessage": "Invalid transaction id."}


def test_environment_by_host_name(world, sandbox):
    p = buy(world, world.gems, "host")
    h = {"Authorization": "Bearer " + sandbox._generate_token()}
    for host, code in [("api.storekit-sandbox.apple.com", 200), ("api.storekit-sandbox.itunes.apple.com", 200),
                       ("api.storekit.apple.com", 404), ("api.storekit.itunes.apple.com", 404)]:
        r = requests.get(f"{BASE}/inApps/v1/transactions/{p['transactionId']}", headers={**h, "Host": host}, timeout=10)
        assert r.status_code == code, host


# ------------------------------------------------------------------------------------------------
# Every notification crabapple sends verifies, for the right app and environment only
# ------------------------------------------------------------------------------------------------

def test_every_event_notification_verifies(world, receiver, verifiers):
    s = buy(world, world.monthly, "all-events")
    t = s["transactionId"]
    event("renew", transactionId=t)
    event("upgrade", transactionId=t, toProductId=world.premium)
    event("downgrade", transactionId=t, toProductId=world.monthly)
    event("auto-renew", transactionId=t, enabled=False)
    event("auto-renew", transactionId=t, enabled=True)
    event("price-increase", transactionId=t, price=9990)
    event("price-increase", transactionId=t, consent=True)
    event("fail-renewal", transactionId=t, now=True, gracePeriod=False)
    event("recover", transactionId=t)
    event("consumption-request", transactionId=t, reason="FULFILLMENT_ISSUE")
    event("refund", transactionId=t)
    event("refund-reversed", transactionId=t)
    event("refund-declined", transactionId=t)
    buy(world, world.pass_, "all-events")
    fam = buy(world, world.yearly, "all-events-family", familyShared=True)
    event("revoke", transactionId=fam["transactionId"])
    wait_for(lambda: all(n["state"] != "pending" for n in admin("GET", f"/commerce/notifications?bundleId={world.bundle}&limit=400")["data"]),
             what="deliveries")
    got = receiver.payloads(f"{world.tag}/sandbox/ok") + receiver.payloads(f"{world.tag}/prod/ok")
    assert len(got) >= 15
    types = set()
    for p in got:
        env = "Production" if p in receiver.payloads("/prod/ok") else "Sandbox"
        n = verifiers[env].verify_and_decode_notification(p)
        types.add((n.notificationType.value, n.subtype.value if n.subtype else None))
        if n.data and n.data.signedTransactionInfo:
            verifiers[env].verify_and_decode_signed_transaction(n.data.signedTransactionInfo)
        if n.data and n.data.signedRenewalInfo:
            verifiers[env].verify_and_decode_renewal_info(n.data.signedRenewalInfo)
        other_env = verifiers["Production" if env == "Sandbox" else "Sandbox"]
        with pytest.raises(VerificationException):
            other_env.verify_and_decode_notification(p)
    for pair in [("SUBSCRIBED", "INITIAL_BUY"), ("DID_RENEW", None), ("DID_CHANGE_RENEWAL_PREF", "UPGRADE"),
                 ("DID_CHANGE_RENEWAL_PREF", "DOWNGRADE"), ("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_DISABLED"),
                 ("DID_CHANGE_RENEWAL_STATUS", "AUTO_RENEW_ENABLED"), ("PRICE_INCREASE", "PENDING"),
                 ("PRICE_INCREASE", "ACCEPTED"), ("DID_FAIL_TO_RENEW", None), ("DID_RENEW", "BILLING_RECOVERY"),
                 ("CONSUMPTION_REQUEST", None), ("REFUND", None), ("REFUND_REVERSED", None), ("REFUND_DECLINED", None),
                 ("ONE_TIME_CHARGE", None), ("REVOKE", None)]:
        assert pair in types, pair
    # The wrong bundle id is rejected too.
    from appstoreserverlibrary.signed_data_verifier import SignedDataVerifier
    wrong = SignedDataVerifier([world.root], False, Environment.SANDBOX, "com.example.wrong")
    with pytest.raises(VerificationException) as v:
        wrong.verify_and_decode_notification(receiver.payloads(f"{world.tag}/sandbox/ok")[0])
    assert v.value.status == VerificationStatus.INVALID_APP_IDENTIFIER


def test_exported_root_is_the_signing_root(world, tmp_path):
    """`crabapple ca export --der` writes the root that verifies everything above."""
    import os
    import shutil
    import subprocess
    binary = os.environ.get("CRABAPPLE_BIN") or shutil.which("crabapple")
    data = os.environ.get("CRABAPPLE_DATA")
    assert binary and data, "set CRABAPPLE_BIN and CRABAPPLE_DATA to cross-check `crabapple ca export`"
    out = tmp_path / "root.der"
    subprocess.run([binary, "ca", "export", "--data", data, "--der", "--out", str(out)], check=True)
    assert out.read_bytes() == world.root
