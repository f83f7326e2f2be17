-- Lookups by one attribute's value (issue 8: a write's uniqueness check must not scan its type).
-- The attributes Apple keeps unique or looks resources up by, each behind its resource type; the
-- expressions are exactly the ones `Tx::find_ids` queries (sql::json_attr), so SQLite uses them.
-- PostgreSQL: CREATE INDEX … ON resources (type, (attributes->>'identifier')) and so on.
CREATE INDEX IF NOT EXISTS resources_by_identifier ON resources (type, json_extract(attributes, '$."identifier"'));
CREATE INDEX IF NOT EXISTS resources_by_udid ON resources (type, json_extract(attributes, '$."udid"'));
CREATE INDEX IF NOT EXISTS resources_by_name ON resources (type, json_extract(attributes, '$."name"'));
CREATE INDEX IF NOT EXISTS resources_by_username ON resources (type, json_extract(attributes, '$."username"'));
CREATE INDEX IF NOT EXISTS resources_by_email ON resources (type, json_extract(attributes, '$."email"'));
CREATE INDEX IF NOT EXISTS resources_by_product_id ON resources (type, json_extract(attributes, '$."productId"'));
CREATE INDEX IF NOT EXISTS resources_by_certificate_type ON resources (type, json_extract(attributes, '$."certificateType"'));
