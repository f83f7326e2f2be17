-- The Retention Messaging API (Apple's `/inApps/v1/messaging/...`): images, messages, default
-- message configuration, the Get Retention Message endpoint URL and its performance tests.
-- Everything is kept per app and environment (the API has a production and a sandbox URL).
-- Times are epoch milliseconds on crabapple's virtual clock.

-- An uploaded image: the PNG as sent, its decoded size, and Apple's review state.
CREATE TABLE IF NOT EXISTS messaging_images (
    app_id           TEXT NOT NULL,
    environment      TEXT NOT NULL,
    image_identifier TEXT NOT NULL,
    -- `FULL_SIZE | BULLET_POINT` (Apple's imageSize)
    image_size       TEXT NOT NULL,
    -- `PENDING | APPROVED | REJECTED` (Apple's imageState)
    image_state      TEXT NOT NULL,
    width            INTEGER NOT NULL,
    height           INTEGER NOT NULL,
    png              BLOB NOT NULL,
    created_ms       INTEGER NOT NULL,
    PRIMARY KEY (app_id, environment, image_identifier)
);

-- An uploaded message: Apple's UploadMessageRequestBody as JSON, and its review state.
CREATE TABLE IF NOT EXISTS messaging_messages (
    app_id             TEXT NOT NULL,
    environment        TEXT NOT NULL,
    message_identifier TEXT NOT NULL,
    -- `PENDING | APPROVED | REJECTED` (Apple's messageState)
    message_state      TEXT NOT NULL,
    body               TEXT NOT NULL,
    created_ms         INTEGER NOT NULL,
    PRIMARY KEY (app_id, environment, message_identifier)
);

-- The images a message shows (its image and bullet-point images): an image in use can't be
-- deleted (ImageInUseError).
CREATE TABLE IF NOT EXISTS messaging_message_images (
    app_id             TEXT NOT NULL,
    environment        TEXT NOT NULL,
    message_identifier TEXT NOT NULL,
    image_identifier   TEXT NOT NULL,
    PRIMARY KEY (app_id, environment, message_identifier, image_identifier)
);
CREATE INDEX IF NOT EXISTS messaging_message_images_by_image
    ON messaging_message_images (app_id, environment, image_identifier);

-- Default message per product and locale.
CREATE TABLE IF NOT EXISTS messaging_defaults (
    app_id             TEXT NOT NULL,
    environment        TEXT NOT NULL,
    product_id         TEXT NOT NULL,
    locale             TEXT NOT NULL,
    message_identifier TEXT NOT NULL,
    PRIMARY KEY (app_id, environment, product_id, locale)
);

-- The Get Retention Message endpoint URL per environment.
CREATE TABLE IF NOT EXISTS messaging_realtime_urls (
    app_id      TEXT NOT NULL,
    environment TEXT NOT NULL,
    url         TEXT NOT NULL,
    PRIMARY KEY (app_id, environment)
);

-- Performance tests (sandbox): Apple's PerformanceTestResultResponse as JSON in `result`.
CREATE TABLE IF NOT EXISTS messaging_performance_tests (
    request_id  TEXT PRIMARY KEY,
    app_id      TEXT NOT NULL,
    environment TEXT NOT NULL,
    -- `PENDING | PASS | FAIL` (Apple's PerformanceTestStatus)
    status      TEXT NOT NULL,
    result      TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messaging_performance_tests_by_app
    ON messaging_performance_tests (app_id, environment, created_ms);
