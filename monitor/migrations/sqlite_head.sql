-- revision: 0004
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE feedstate (
	name VARCHAR NOT NULL, 
	url VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	reason VARCHAR, 
	failures INTEGER NOT NULL, 
	items INTEGER NOT NULL, 
	polled BOOLEAN NOT NULL, 
	etag VARCHAR, 
	last_modified VARCHAR, 
	body_hash VARCHAR, 
	last_poll_at DATETIME, 
	last_ok_at DATETIME, 
	next_poll_at DATETIME, 
	lease_owner VARCHAR, 
	lease_until DATETIME, article_failures INTEGER DEFAULT '0' NOT NULL, 
	PRIMARY KEY (name)
);
CREATE INDEX ix_feedstate_next_poll_at ON feedstate (next_poll_at);
CREATE TABLE delivery (
	id VARCHAR NOT NULL, 
	match_id VARCHAR NOT NULL, 
	rule VARCHAR NOT NULL, 
	channel VARCHAR NOT NULL, 
	status VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	group_key VARCHAR, 
	next_attempt_at DATETIME NOT NULL, 
	created_at DATETIME NOT NULL, 
	sent_at DATETIME, 
	last_error VARCHAR, 
	lease_owner VARCHAR, 
	lease_until DATETIME, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_delivery_match_channel UNIQUE (match_id, channel)
);
CREATE INDEX ix_delivery_match_id ON delivery (match_id);
CREATE INDEX ix_delivery_channel ON delivery (channel);
CREATE INDEX ix_delivery_status ON delivery (status);
CREATE INDEX ix_delivery_next_attempt_at ON delivery (next_attempt_at);
CREATE TABLE event (
	id INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	kind VARCHAR NOT NULL, 
	feed VARCHAR, 
	rule VARCHAR, 
	item_id VARCHAR, 
	channel VARCHAR, 
	delivery_id VARCHAR, 
	message VARCHAR NOT NULL, 
	data JSON NOT NULL, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_event_at ON event (at);
CREATE INDEX ix_event_kind ON event (kind);
CREATE TABLE rulestate (
	name VARCHAR NOT NULL, 
	fingerprint VARCHAR NOT NULL, 
	applied_at DATETIME NOT NULL, 
	PRIMARY KEY (name)
);
CREATE INDEX ix_delivery_status_next_attempt_at ON delivery (status, next_attempt_at);
CREATE TABLE "item" (
	id VARCHAR NOT NULL, 
	feed VARCHAR NOT NULL, 
	guid VARCHAR, 
	link VARCHAR, 
	title VARCHAR NOT NULL, 
	summary VARCHAR NOT NULL, 
	content VARCHAR NOT NULL, 
	author VARCHAR NOT NULL, 
	categories JSON NOT NULL, 
	published DATETIME, 
	first_seen DATETIME NOT NULL, 
	link_key VARCHAR, 
	title_key VARCHAR NOT NULL, 
	page VARCHAR, 
	article VARCHAR DEFAULT '' NOT NULL, 
	article_status VARCHAR, 
	article_alert BOOLEAN DEFAULT 0 NOT NULL, 
	lease_owner VARCHAR, 
	lease_until DATETIME, 
	PRIMARY KEY (id)
);
CREATE INDEX ix_item_first_seen ON item (first_seen);
CREATE INDEX ix_item_feed ON item (feed);
CREATE INDEX ix_item_article_status ON item (article_status);
CREATE TABLE "match" (
	id VARCHAR NOT NULL, 
	rule VARCHAR NOT NULL, 
	item_id VARCHAR NOT NULL, 
	link_key VARCHAR, 
	title_key VARCHAR NOT NULL, 
	matched_terms JSON NOT NULL, 
	snippet JSON NOT NULL, 
	created_at DATETIME NOT NULL, 
	muted BOOLEAN DEFAULT 0 NOT NULL, 
	PRIMARY KEY (id), 
	CONSTRAINT uq_match_rule_title UNIQUE (rule, title_key), 
	CONSTRAINT uq_match_rule_link UNIQUE (rule, link_key)
);
CREATE INDEX ix_match_rule ON "match" (rule);
CREATE INDEX ix_match_item_id ON "match" (item_id);
CREATE INDEX ix_match_created_at ON "match" (created_at);
CREATE TABLE rulemute (
	rule VARCHAR NOT NULL, 
	until DATETIME, 
	muted_at DATETIME NOT NULL, 
	PRIMARY KEY (rule)
);
