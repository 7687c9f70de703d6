BEGIN TRANSACTION;
CREATE TABLE activation_jobs (
	id VARCHAR(100) NOT NULL, 
	tenant VARCHAR(100) NOT NULL, 
	source VARCHAR(100), 
	"trigger" VARCHAR(32) NOT NULL, 
	created_at FLOAT NOT NULL, 
	PRIMARY KEY (id)
);
CREATE TABLE budget_pools (
	idp VARCHAR(100) NOT NULL, 
	bucket VARCHAR(100) NOT NULL, 
	budget INTEGER NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (idp, bucket)
);
CREATE TABLE budget_shares (
	idp VARCHAR(100) NOT NULL, 
	bucket VARCHAR(100) NOT NULL, 
	instance VARCHAR(100) NOT NULL, 
	allowance INTEGER NOT NULL, 
	sent INTEGER NOT NULL, 
	demand_at FLOAT NOT NULL, 
	heartbeat_at FLOAT NOT NULL, 
	PRIMARY KEY (idp, bucket, instance)
);
CREATE TABLE changes (
	id INTEGER NOT NULL, 
	user_key VARCHAR(420) NOT NULL, 
	tenant VARCHAR(100) NOT NULL, 
	source VARCHAR(100) NOT NULL, 
	"key" VARCHAR(200) NOT NULL, 
	op VARCHAR(16) NOT NULL, 
	version BIGINT, 
	import_id VARCHAR(100), 
	message_id VARCHAR(200), 
	lane SMALLINT NOT NULL, 
	payload TEXT, 
	origin VARCHAR(16) NOT NULL, 
	origin_ref VARCHAR(300), 
	state VARCHAR(10) NOT NULL, 
	status VARCHAR(16), 
	idp_id VARCHAR(100), 
	reason_code VARCHAR(64), 
	reason_message TEXT, 
	attempts INTEGER NOT NULL, 
	not_before FLOAT NOT NULL, 
	received_at FLOAT NOT NULL, 
	finished_at FLOAT, 
	published BOOLEAN NOT NULL, 
	activation_url TEXT, 
	PRIMARY KEY (id), 
	UNIQUE (origin_ref)
);
INSERT INTO "changes" VALUES(1,'efs/panelist/p-9','efs','panelist','p-9','upsert',NULL,NULL,NULL,1,'{}','file',NULL,'done','created','00uSHARED000000001',NULL,NULL,0,0.0,1.79621932452753210068e+09,1.79621932452753210068e+09,0,NULL);
CREATE TABLE claims (
	user_key VARCHAR(420) NOT NULL, 
	owner VARCHAR(100) NOT NULL, 
	lease_until FLOAT NOT NULL, 
	PRIMARY KEY (user_key)
);
CREATE TABLE held_changes (
	change_id BIGINT NOT NULL, 
	run_id VARCHAR(250) NOT NULL, 
	user_key VARCHAR(420) NOT NULL, 
	PRIMARY KEY (change_id)
);
CREATE TABLE idp_limits (
	idp VARCHAR(100) NOT NULL, 
	bucket VARCHAR(100) NOT NULL, 
	limit_per_window INTEGER NOT NULL, 
	window_s FLOAT, 
	learned_at FLOAT NOT NULL, 
	PRIMARY KEY (idp, bucket)
);
CREATE TABLE imports (
	id VARCHAR(100) NOT NULL, 
	tenant VARCHAR(100) NOT NULL, 
	origin VARCHAR(16) NOT NULL, 
	input_name TEXT, 
	state VARCHAR(16) NOT NULL, 
	total BIGINT, 
	received BIGINT NOT NULL, 
	created BIGINT NOT NULL, 
	updated BIGINT NOT NULL, 
	unchanged BIGINT NOT NULL, 
	skipped BIGINT NOT NULL, 
	failed BIGINT NOT NULL, 
	activated BIGINT NOT NULL, 
	deactivated BIGINT NOT NULL, 
	deleted BIGINT NOT NULL, 
	input_cursor BIGINT NOT NULL, 
	unchanged_unrecorded BIGINT NOT NULL, 
	input_done BOOLEAN NOT NULL, 
	rate FLOAT NOT NULL, 
	started_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	finished_at FLOAT, 
	PRIMARY KEY (id)
);
CREATE TABLE inbound_events (
	integration VARCHAR(100) NOT NULL, 
	uuid VARCHAR(100) NOT NULL, 
	event_type VARCHAR(100) NOT NULL, 
	published VARCHAR(40), 
	published_ts FLOAT NOT NULL, 
	okta_user_id VARCHAR(100), 
	login VARCHAR(200), 
	group_id VARCHAR(100), 
	group_name VARCHAR(300), 
	delivery_id VARCHAR(100), 
	state VARCHAR(10) NOT NULL, 
	outcome VARCHAR(16), 
	message TEXT, 
	attempts INTEGER NOT NULL, 
	not_before FLOAT NOT NULL, 
	received_at FLOAT NOT NULL, 
	processed_at FLOAT, 
	PRIMARY KEY (integration, uuid)
);
CREATE TABLE inbound_integrations (
	name VARCHAR(100) NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	paused_at FLOAT, 
	delta_cursor VARCHAR(40), 
	hook_id VARCHAR(100), 
	lease_owner VARCHAR(100), 
	lease_until FLOAT, 
	created_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE inbound_links (
	integration VARCHAR(100) NOT NULL, 
	okta_id VARCHAR(100) NOT NULL, 
	app_key VARCHAR(200) NOT NULL, 
	login VARCHAR(200), 
	okta_status VARCHAR(32), 
	applied TEXT, 
	roles TEXT, 
	profile_wm FLOAT, 
	roles_wm FLOAT, 
	as_of FLOAT, 
	roles_as_of FLOAT, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (integration, okta_id)
);
CREATE TABLE inbound_log (
	id INTEGER NOT NULL, 
	integration VARCHAR(100) NOT NULL, 
	kind VARCHAR(20) NOT NULL, 
	status VARCHAR(16) NOT NULL, 
	ref VARCHAR(200), 
	okta_user_id VARCHAR(100), 
	summary TEXT, 
	detail TEXT, 
	started_at FLOAT NOT NULL, 
	finished_at FLOAT, 
	PRIMARY KEY (id)
);
CREATE TABLE links (
	tenant VARCHAR(100) NOT NULL, 
	source VARCHAR(100) NOT NULL, 
	"key" VARCHAR(200) NOT NULL, 
	idp VARCHAR(100) NOT NULL, 
	idp_id VARCHAR(100), 
	login VARCHAR(200), 
	profile_hash VARCHAR(64), 
	idp_status VARCHAR(32), 
	version BIGINT, 
	pending_op VARCHAR(16), 
	last_error_code VARCHAR(64), 
	last_error_message TEXT, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (tenant, source, "key")
);
INSERT INTO "links" VALUES('efs','efs-admin','4711','okta','00uSHARED000000001','ann@example.com','h1','STAGED',3,NULL,NULL,NULL,1.79621932451063108437e+09);
INSERT INTO "links" VALUES('efs','panelist','p-9','okta','00uSHARED000000001','ann@example.com','h2','STAGED',1,NULL,NULL,NULL,1.79621932451806902886e+09);
INSERT INTO "links" VALUES('tenant-b','app','b-1','okta','00uSHARED000000001','Ann@Example.com','h3','STAGED',1,NULL,NULL,NULL,1.79621932451948785776e+09);
INSERT INTO "links" VALUES('efs','efs-admin','4712','okta','00uSOLO00000000002','bob@example.com','h4','ACTIVE',2,NULL,NULL,NULL,1.79621932452082300191e+09);
INSERT INTO "links" VALUES('efs','panelist','p-10','okta',NULL,NULL,NULL,NULL,NULL,NULL,NULL,NULL,1.79621932452644348147e+09);
CREATE TABLE portals (
	tenant VARCHAR(100) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	idp VARCHAR(100) NOT NULL, 
	label VARCHAR(300) NOT NULL, 
	base_url TEXT NOT NULL, 
	redirect_uris TEXT NOT NULL, 
	app_id VARCHAR(100), 
	client_id VARCHAR(200), 
	state VARCHAR(16) NOT NULL, 
	lease_until FLOAT NOT NULL, 
	last_error TEXT, 
	created_at FLOAT NOT NULL, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (tenant, name)
);
CREATE TABLE safety_runs (
	run_id VARCHAR(250) NOT NULL, 
	tenant VARCHAR(100) NOT NULL, 
	import_id VARCHAR(100), 
	window_start FLOAT, 
	linked_users BIGINT NOT NULL, 
	allowance BIGINT NOT NULL, 
	admitted BIGINT NOT NULL, 
	held BIGINT NOT NULL, 
	discarded BIGINT NOT NULL, 
	state VARCHAR(16) NOT NULL, 
	forced BOOLEAN NOT NULL, 
	created_at FLOAT NOT NULL, 
	tripped_at FLOAT, 
	updated_at FLOAT NOT NULL, 
	PRIMARY KEY (run_id)
);
CREATE TABLE schema_migrations (
	name VARCHAR(100) NOT NULL, 
	description TEXT NOT NULL, 
	applied_at FLOAT NOT NULL, 
	PRIMARY KEY (name)
);
INSERT INTO "schema_migrations" VALUES('core_0001','initial schema: links, changes, imports, claims',1.79621932450395870211e+09);
INSERT INTO "schema_migrations" VALUES('core_0002','imports.unchanged_unrecorded',1.79621932450396037104e+09);
INSERT INTO "schema_migrations" VALUES('core_0003','changes.activation_url',1.7962193245039615631e+09);
INSERT INTO "schema_migrations" VALUES('activation_0001','activation_jobs and tenant_modes: resumable phase-2 jobs; mode switches seen at start-up',1.79621932450396323203e+09);
INSERT INTO "schema_migrations" VALUES('inbound_0001','inbound sync: integrations, links, events, execution log',1.7962193245039641857e+09);
INSERT INTO "schema_migrations" VALUES('limits_0001','idp_limits: rate limits learned per IdP and bucket (estimates without an IdP call)',1.79621932450396561619e+09);
INSERT INTO "schema_migrations" VALUES('portals_0001','portals: OpenID Connect applications registered per tenant portal (never the client secret)',1.7962193245039668083e+09);
INSERT INTO "schema_migrations" VALUES('safety_0001','safety_runs and held_changes: the mass deactivate/delete threshold (domain/safety.py)',1.79621932450396800035e+09);
INSERT INTO "schema_migrations" VALUES('service_0001','service: instances, budget pools and shares, leases',1.79621932450396871571e+09);
CREATE TABLE service_instances (
	instance VARCHAR(100) NOT NULL, 
	host VARCHAR(200) NOT NULL, 
	pid INTEGER NOT NULL, 
	started_at FLOAT NOT NULL, 
	heartbeat_at FLOAT NOT NULL, 
	PRIMARY KEY (instance)
);
CREATE TABLE service_leases (
	name VARCHAR(100) NOT NULL, 
	owner VARCHAR(100) NOT NULL, 
	lease_until FLOAT NOT NULL, 
	PRIMARY KEY (name)
);
CREATE TABLE tenant_modes (
	tenant VARCHAR(100) NOT NULL, 
	mode VARCHAR(32) NOT NULL, 
	activation_job VARCHAR(100), 
	changed_at FLOAT NOT NULL, 
	PRIMARY KEY (tenant)
);
CREATE INDEX ix_links_idp_user ON links (idp, idp_id);
CREATE INDEX ix_links_tenant_status ON links (tenant, idp_status);
CREATE INDEX ix_changes_pending ON changes (lane, id) WHERE state = 'pending';
CREATE INDEX ix_changes_open_user ON changes (user_key) WHERE state != 'done';
CREATE INDEX ix_changes_unpublished ON changes (origin, id) WHERE state = 'done' AND published = 0;
CREATE INDEX ix_changes_import_status ON changes (import_id, status);
CREATE UNIQUE INDEX ux_inbound_links_app_key ON inbound_links (integration, app_key);
CREATE INDEX ix_inbound_events_due ON inbound_events (integration, state, published_ts);
CREATE INDEX ix_inbound_log_integration ON inbound_log (integration, id);
CREATE INDEX ix_inbound_log_kind_status ON inbound_log (integration, kind, status);
CREATE INDEX ix_safety_runs_state ON safety_runs (state);
CREATE INDEX ix_held_changes_run ON held_changes (run_id);
CREATE INDEX ix_held_changes_user ON held_changes (user_key);
COMMIT;
