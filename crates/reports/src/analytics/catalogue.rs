//! The catalogue of reports every `analyticsReportRequests` carries (reports-formats.md §4.2:
//! "one request carries 156 reports"): each report's API name, Apple's category, its id number
//! `N` of `r<N>-<requestId>`, its level and what crabapple makes of it ([`Kind`]).
//!
//! Where the names and categories come from: the report-name enum of PyPI
//! `surquest-utils-appstoreconnect-analyticsreports` 0.0.1 (§4.2: names "verified against the
//! live analyticsReports endpoint"), which pairs every name with a category — 129 reports, taken
//! as they are (its one extra member, "App Customer Reviews", has no category and is the
//! customer-reviews endpoint, not an analytics report: left out). Not in the enum, so decided
//! here: the four subscription reports of §4.3 (their API names were never seen, §4.2):
//! crabapple names them like their siblings, `App Store Subscription State|Event
//! Standard|Detailed`, and files them under `COMMERCE` like App Store Purchases, since they count
//! paid subscriptions (a guess). That makes 133 of Apple's 156; the other 23 names were never
//! published anywhere crabapple's sources reach.
//!
//! Ids: r3, r6, r8, r12, r14 and r189 as observed (§4.2); the others are crabapple's and fixed
//! here, never renumbered: r4–r28 for the reports with files and App Clip Usage, r30–r138 for the
//! framework and performance reports in the enum's order.
//!
//! Reports without files ([`Kind::NotGenerated`], see [`Report::why_not_generated`]): App Clip
//! Usage (Apple makes it only for apps with an App Clip, and §4.3 gives no columns for it) and the
//! 109 framework and performance reports. Their columns are unknown (§4.3 gives only Home Screen
//! Widget Installs', without an order), and the most plausible reading of Apple's pages is that
//! Apple generates such a report only for an app that uses the framework it measures (widgets,
//! CarPlay, ARKit, …): a request lists them, and they have no instances for crabapple's apps.

use super::Report;
use super::{Kind, Kind::*};

const COMMERCE: &str = "COMMERCE";
const APP_USAGE: &str = "APP_USAGE";
const APP_STORE_ENGAGEMENT: &str = "APP_STORE_ENGAGEMENT";
const FRAMEWORK_USAGE: &str = "FRAMEWORK_USAGE";
const PERFORMANCE: &str = "PERFORMANCE";

const fn r(
    n: u32,
    name: &'static str,
    category: &'static str,
    detailed: bool,
    kind: Kind,
) -> Report {
    let (granularities, history_start) = kind.availability(detailed);
    Report {
        n,
        name,
        category,
        detailed,
        kind,
        granularities,
        history_start,
    }
}

const fn framework(n: u32, name: &'static str) -> Report {
    r(n, name, FRAMEWORK_USAGE, false, NotGenerated)
}

const fn performance(n: u32, name: &'static str) -> Report {
    r(n, name, PERFORMANCE, false, NotGenerated)
}

/// The two APP_USAGE reports of the enum that measure a framework (CarPlay) or whose columns are
/// unknown (Platform App Installs).
const fn app_usage(n: u32, name: &'static str) -> Report {
    r(n, name, APP_USAGE, false, NotGenerated)
}

/// Every report: §4.2's rows and the subscription reports with files, then the framework and
/// performance reports of surquest's enum (the module comment says where each came from).
pub const CATALOGUE: &[Report] = &[
    r(3, "App Downloads Standard", COMMERCE, false, Downloads),
    r(4, "App Downloads Detailed", COMMERCE, true, Downloads),
    r(
        6,
        "App Store Installation and Deletion Standard",
        APP_USAGE,
        false,
        InstallationAndDeletion,
    ),
    r(
        7,
        "App Store Installation and Deletion Detailed",
        APP_USAGE,
        true,
        InstallationAndDeletion,
    ),
    r(8, "App Sessions Standard", APP_USAGE, false, Sessions),
    r(9, "App Sessions Detailed", APP_USAGE, true, Sessions),
    r(
        10,
        "App Store Pre-Orders Standard",
        COMMERCE,
        false,
        PreOrders,
    ),
    r(
        11,
        "App Store Pre-Orders Detailed",
        COMMERCE,
        true,
        PreOrders,
    ),
    r(
        12,
        "App Store Purchases Standard",
        COMMERCE,
        false,
        Purchases,
    ),
    r(
        13,
        "App Store Purchases Detailed",
        COMMERCE,
        true,
        Purchases,
    ),
    r(
        14,
        "App Store Discovery and Engagement Standard",
        APP_STORE_ENGAGEMENT,
        false,
        DiscoveryAndEngagement,
    ),
    r(
        15,
        "App Store Discovery and Engagement Detailed",
        APP_STORE_ENGAGEMENT,
        true,
        DiscoveryAndEngagement,
    ),
    r(
        16,
        "App Store Web Preview Engagement Standard",
        APP_STORE_ENGAGEMENT,
        false,
        WebPreviewEngagement,
    ),
    r(
        17,
        "App Store Web Preview Engagement Detailed",
        APP_STORE_ENGAGEMENT,
        true,
        WebPreviewEngagement,
    ),
    r(
        20,
        "App Clip Usage Standard",
        APP_USAGE,
        false,
        NotGenerated,
    ),
    r(21, "App Clip Usage Detailed", APP_USAGE, true, NotGenerated),
    r(22, "App Crashes", APP_USAGE, false, Crashes),
    r(
        23,
        "App Crashes Expanded",
        PERFORMANCE,
        false,
        CrashesExpanded,
    ),
    r(
        24,
        "App Install Performance",
        PERFORMANCE,
        false,
        InstallPerformance,
    ),
    r(
        25,
        "App Store Subscription State Standard",
        COMMERCE,
        false,
        SubscriptionState,
    ),
    r(
        26,
        "App Store Subscription State Detailed",
        COMMERCE,
        true,
        SubscriptionState,
    ),
    r(
        27,
        "App Store Subscription Event Standard",
        COMMERCE,
        false,
        SubscriptionEvent,
    ),
    r(
        28,
        "App Store Subscription Event Detailed",
        COMMERCE,
        true,
        SubscriptionEvent,
    ),
    r(189, "App Opt In", APP_USAGE, false, OptIn),
    framework(30, "AirPlay Discovery Sessions"),
    framework(31, "Home Screen Widget Rotations"),
    framework(32, "File-Based Video Playback Usage"),
    framework(33, "Safari Extensions Usage"),
    framework(34, "CRABS-Based Video Playback Usage"),
    framework(35, "Translation Request Usage"),
    framework(36, "Safari Extensions Enablement"),
    framework(37, "Automatic Speech Recognition Usage"),
    framework(38, "Keyboard Dictation Usage"),
    framework(39, "Spatial Audio Usage"),
    framework(40, "Video Duration Information"),
    framework(41, "Default Browser Usage Rate"),
    framework(42, "Home Screen Widgets"),
    framework(
        43,
        "Browser Choice Screen Engagement (iOS versions before 18.2)",
    ),
    framework(44, "Home Screen Widget Usage"),
    framework(45, "VisionKit Image Analysis"),
    framework(46, "Reminders Usage"),
    framework(47, "PhotoKit Imports"),
    performance(48, "Networking Connection Activity"),
    framework(49, "Speech Framework Transcription Requests"),
    framework(50, "HTTP Live Streaming Video Playback Usage"),
    framework(51, "Mode Activity Notifications"),
    framework(52, "Metal Command Queues"),
    framework(53, "Lock Screen Widget Configuration"),
    framework(54, "Local Network Privacy"),
    framework(55, "Photos Library Access"),
    framework(56, "Game Controller Sessions"),
    framework(57, "Speech Framework Transcription Request Audio Duration"),
    framework(58, "Text-Input Actions"),
    framework(59, "VisionKit Sessions"),
    performance(60, "CAMetalLayer Performance"),
    performance(61, "Bluetooth System Wakes"),
    framework(62, "App Runtime Usage"),
    framework(63, "Flashlight Usage"),
    framework(64, "ARKit World Tracking"),
    framework(65, "ARKit World Tracking Image Detection"),
    framework(66, "Photogrammetry ObjectCaptureSession API Usage"),
    framework(67, "PhotogrammetrySession API Usage"),
    framework(68, "Haptics Engine Usage"),
    framework(69, "ShazamKit Usage"),
    framework(70, "App Added to Focus"),
    performance(71, "Streaming Playback Performance"),
    performance(72, "Streaming Downloads Performance"),
    framework(73, "Audio Input Muting"),
    performance(74, "AirPlay Performance"),
    framework(75, "RoomPlan Usage"),
    framework(76, "Audio Input Route and Duration and Call Mode"),
    framework(77, "App Disk Space Usage"),
    framework(78, "Location Sessions"),
    framework(79, "CarPlay Navigation"),
    framework(80, "Video PiP Duration"),
    performance(81, "HTTP Live Streaming Playback Errors"),
    framework(82, "HTTP Live Streaming Playback Count"),
    framework(83, "Bluetooth LE Scans"),
    framework(84, "Bluetooth LE Advertising"),
    framework(85, "AccessorySetupKit Usage"),
    performance(86, "Custom Language Model Builds Failed"),
    framework(87, "Custom Language Model Builds Started"),
    framework(88, "Customized Transcription Requests"),
    framework(89, "DockKit App Usage"),
    framework(90, "Live Activity Use"),
    framework(91, "Multiple Game Controllers Usage"),
    framework(92, "Photos Picker"),
    framework(93, "Shared With You Content Engagement"),
    performance(94, "Spotlight Query Performance"),
    framework(95, "iBeacon Add Region Usage"),
    framework(96, "iBeacon Stop Monitoring for Region Usage"),
    framework(97, "VisionKit Live Text Usage"),
    framework(98, "Wi-Fi Known Network Modifications"),
    framework(99, "AccessorySetupKit Accessory Picker Sessions"),
    performance(100, "Bluetooth LE Session Duration"),
    framework(101, "iBeacon Ranging Usage"),
    framework(102, "Browser Choice Screen Selection"),
    app_usage(103, "Platform App Installs"),
    performance(104, "AirPlay Errors"),
    framework(105, "Core Location Geofencing"),
    framework(106, "SharePlay Usage by Activity Type"),
    framework(107, "Notification Summary Engagement"),
    framework(108, "VisionKit Data Detectors"),
    framework(109, "Call Services and Call Performance"),
    framework(110, "Load CoreML Models Metrics"),
    framework(111, "Verify with Wallet Document Requests"),
    framework(112, "Verify With Wallet Document Request Availability"),
    framework(113, "App Sessions Context"),
    app_usage(114, "CarPlay App Usage"),
    framework(115, "Audio Volume Levels and Duration"),
    framework(116, "Bluetooth LE Sessions"),
    framework(117, "ARKit Video Formats"),
    framework(118, "ARKit Capture Frame Rate Throttling"),
    framework(119, "ARKit ARSession Duration"),
    framework(120, "ARKit ARSession Failures"),
    framework(121, "ARKit Face Tracking"),
    framework(122, "Animoji Stickers Sent"),
    performance(123, "Display Power Information"),
    framework(124, "Core Location Authorization Results"),
    performance(125, "Launch Image Over Memory Limit"),
    framework(126, "Game Controller Haptics Engine Creation"),
    framework(127, "Photos Sharing"),
    framework(128, "Audio Session Audio Unit Usage"),
    framework(129, "Collaboration Message Usage"),
    framework(130, "Dynamic Island Layout Changes"),
    performance(131, "App Storage Reads and Writes"),
    framework(132, "Application Preferred Language Settings"),
    framework(133, "ARKit Collaborative Session Features"),
    performance(134, "Audio Overloads"),
    framework(135, "Bluetooth LE Connection Results"),
    framework(136, "Bluetooth LE Connections Per App"),
    framework(137, "Bluetooth LE Disconnection Results"),
    framework(138, "Home Screen Widget Installs"),
];
