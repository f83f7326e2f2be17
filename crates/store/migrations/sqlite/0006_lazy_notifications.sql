-- A notification's decoded content (its payload with the transaction and renewal info decoded),
-- kept next to the signed payload. A batch of many events (the simulator) stores only this and
-- leaves `signed_payload` empty: the JWS is made the first time a notification is sent or read
-- (storekit `Commerce::signed_payload`), so a simulated year does not sign and store millions of
-- ES256 signatures and certificate chains nobody reads. NULL for rows written before.
ALTER TABLE commerce_notifications ADD COLUMN decoded TEXT;
