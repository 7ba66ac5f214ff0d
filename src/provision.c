/*
 * provision.c - the provisioning thread (see provision.h).
 *
 * Loop: take the tenants whose next step is due from sg:prov, take a lease
 * on one (SET NX PX, so one instance works on a tenant at a time and a dead
 * holder's lease runs out), run its current step, write the outcome to
 * sg:{T}:prov before anything else happens, and go on with the next step
 * or schedule a poll / a retry.  provision_fsm.c says which step follows.
 *
 * Every step is idempotent, because a crash can come after AWS did the work
 * and before Redis heard of it: CreateAccount is preceded by a search for
 * the account (by request, name and e-mail) and its request id is stored
 * before polling; "already exists" answers count as success.
 *
 * Blocking calls are fine here: this thread serves nothing else.  Each call
 * has a timeout and provision_stop() aborts the one in progress.
 * Never logs credentials.
 */
#include "provision.h"
#include "aws/awsjson.h"
#include "aws/awsparse.h"
#include "aws/awssync.h"
#include "aws/creds.h"
#include "aws/iam.h"
#include "aws/orgs.h"
#include "aws/ses_admin.h"
#include "aws/sts.h"
#include "config.h"
#include "events.h"
#include "keys.h"
#include "log.h"
#include "provision_fsm.h"
#include "rconn.h"
#include "sesgate.h"
#include "util.h"
#include "worker.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 8
#define IDLE_MS 500
#define CALL_TIMEOUT_MAX_MS 30000
#define CRED_MARGIN 300          /* renew assumed roles 5 min before expiry */
#define ACCOUNT_NAME_PREFIX "sesgate-"
#define EVENT_DEST_NAME "sesgate-events"
#define MAX_DOMAINS 100

enum outcome { OUT_DONE, OUT_WAIT, OUT_RETRY, OUT_FAIL };

struct prov {
	redisContext *rc;
	char tid[TENANT_ID_LEN + 1];
	char name[TENANT_NAME_MAX + 1];
	char email[256];
	char account_id[16];
	struct prov_plan plan;
	enum prov_step step;
	int polls, failures;
	char **domains;
	int ndomains;
	uint64_t wait_ms;        /* with OUT_WAIT */
	char why[512];           /* with OUT_RETRY / OUT_FAIL */
};

static pthread_t th;
static int running;
static _Atomic int stopping;
static const struct config *cfg;
static char orgs_endpoint[512], iam_endpoint[512];

/* The lease held while working on one tenant, renewed before each call. */
static struct {
	redisContext *rc;
	char key[KEY_MAX];
	char owner[64];
	int lost;
} lease;

static const char renew_lua[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then\n"
	"  return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end\n"
	"return 0\n";

static int lease_ms(void)
{
	return cfg->provision_lease * 1000;
}

static long call_timeout_ms(void)
{
	long t = lease_ms() / 2;
	return t < CALL_TIMEOUT_MAX_MS ? t : CALL_TIMEOUT_MAX_MS;
}

/* 0 while the lease is still ours (extended), -1 once another has it. */
static int lease_renew(void)
{
	if (!lease.rc || lease.lost)
		return lease.lost ? -1 : 0;
	redisReply *r = redisCommand(lease.rc, "EVAL %s 1 %s %s %d", renew_lua, lease.key,
				     lease.owner, lease_ms());
	int ok = r && r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	if (r)
		freeReplyObject(r);
	if (!ok)
		lease.lost = 1;
	return ok ? 0 : -1;
}

/* Cached assumed-role credentials of this thread. */
static struct aws_temp_creds mgmt;
static struct aws_temp_creds member;
static char member_account[16];

/* Test hook: SESGATE_TEST_PROV_CRASH_AFTER=step kills the process (SIGKILL)
 * right after that step's outcome is stored, to prove resumption. */
static char crash_after[64];

/* ---- small helpers ------------------------------------------------------ */

static enum outcome why(struct prov *p, enum outcome o, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static enum outcome why(struct prov *p, enum outcome o, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(p->why, sizeof(p->why), fmt, ap);
	va_end(ap);
	return o;
}

static redisReply *rcmd(struct prov *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = rconn_sync_vcmd(p->rc, fmt, ap);
	va_end(ap);
	return r;
}

static int rok(struct prov *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	redisReply *r = rconn_sync_vcmd(p->rc, fmt, ap);
	va_end(ap);
	if (r)
		freeReplyObject(r);
	return r ? 0 : -1;
}

static const char *endpoint_from_env(char *out, size_t cap, const char *var, const char *def)
{
	const char *v = getenv(var);
	if (!v || !*v)
		v = getenv("AWS_ENDPOINT_URL");
	snprintf(out, cap, "%s", v && *v ? v : def);
	return out;
}

/* An AWS answer as (retryable?, code, message). */
struct answer {
	long status;
	char code[96];
	char msg[300];
	enum aws_retry kind;
};

static void classify(const struct aws_sync_resp *rs, int xml, struct answer *a)
{
	memset(a, 0, sizeof(*a));
	a->status = rs->status;
	if (rs->status == 0) {
		snprintf(a->code, sizeof(a->code), "network");
		snprintf(a->msg, sizeof(a->msg), "%s", rs->err);
		a->kind = AWS_ERR_RETRY;
		return;
	}
	if (rs->status >= 200 && rs->status < 300)
		return;
	if (xml)
		aws_xml_parse_error(rs->body, rs->len, a->code, sizeof(a->code), a->msg, sizeof(a->msg));
	else
		aws_json_error(rs->status, rs->error_type[0] ? rs->error_type : NULL, rs->body,
			       rs->len, a->code, sizeof(a->code), a->msg, sizeof(a->msg));
	a->kind = aws_error_retryable(rs->status, a->code);
}

/* Map a failed answer to a step outcome. */
static enum outcome answer_outcome(struct prov *p, const char *what, const struct answer *a)
{
	enum outcome o = a->kind == AWS_ERR_PERMANENT ? OUT_FAIL : OUT_RETRY;
	return why(p, o, "%s: %s%s%s (HTTP %ld)", what, a->code[0] ? a->code : "error",
		   a->msg[0] ? ": " : "", a->msg, a->status);
}

/* ---- calls -------------------------------------------------------------- */

struct call {
	const char *method, *endpoint, *path, *content_type, *target, *service, *region;
	const char *body;
	const struct aws_temp_creds *cr;
};

static int do_call(const struct call *c, struct aws_sync_resp *rs)
{
	const struct aws_env *env = worker_aws_env();
	if (lease_renew() < 0) {
		/* Another instance took the tenant over: do nothing more. */
		memset(rs, 0, sizeof(*rs));
		snprintf(rs->err, sizeof(rs->err), "provisioning lease lost");
		rs->body = calloc(1, 1);
		return -1;
	}
	struct aws_sync_req rq = {
		.method = c->method, .endpoint = c->endpoint, .path = c->path,
		.content_type = c->content_type, .target = c->target,
		.body = c->body, .len = c->body ? strlen(c->body) : 0,
		.region = c->region, .service = c->service,
		.ca_bundle = env->ca_bundle, .timeout_ms = call_timeout_ms(), .abort = &stopping,
	};
	struct sigv4_credentials sc = {c->cr->access_key_id, c->cr->secret_access_key,
				       c->cr->session_token};
	return aws_sync_call(&rq, &sc, rs);
}

/* Organizations (awsJson1_1, always signed for us-east-1). */
static int orgs_call(const char *op, const char *body, struct aws_sync_resp *rs,
		     struct answer *a)
{
	char target[96];
	snprintf(target, sizeof(target), "AWSOrganizationsV20161128.%s", op);
	struct call c = {"POST", orgs_endpoint, "/", "application/x-amz-json-1.1", target,
			 "organizations", "us-east-1", body, &mgmt};
	do_call(&c, rs);
	classify(rs, 0, a);
	return rs->status >= 200 && rs->status < 300 ? 0 : -1;
}

/* IAM (query protocol, global, signed for us-east-1) in the member account. */
static int iam_call(const char *body, struct aws_sync_resp *rs, struct answer *a)
{
	struct call c = {"POST", iam_endpoint, "/", "application/x-www-form-urlencoded; charset=utf-8",
			 NULL, "iam", "us-east-1", body, &member};
	do_call(&c, rs);
	classify(rs, 1, a);
	return rs->status >= 200 && rs->status < 300 ? 0 : -1;
}

/* SES v2 in the member account. */
static int ses_call(const char *method, const char *path, const char *body,
		    struct aws_sync_resp *rs, struct answer *a)
{
	const struct aws_env *env = worker_aws_env();
	struct call c = {method, env->ses_endpoint, path, body ? "application/json" : NULL, NULL,
			 "ses", env->region, body, &member};
	do_call(&c, rs);
	classify(rs, 0, a);
	return rs->status >= 200 && rs->status < 300 ? 0 : -1;
}

/*
 * STS AssumeRole with SRC's credentials into ROLE, into OUT.  Role chaining
 * (management -> member) caps the session at one hour, so every session
 * asks for one hour.
 */
static int assume(const struct aws_temp_creds *src, const char *role, const char *session,
		  struct aws_temp_creds *out, struct answer *a)
{
	const struct aws_env *env = worker_aws_env();
	char *body = sts_assume_role_body(role, session, NULL, 3600);
	if (!body) {
		memset(a, 0, sizeof(*a));
		snprintf(a->code, sizeof(a->code), "InvalidRole");
		snprintf(a->msg, sizeof(a->msg), "cannot build AssumeRole for %s", role);
		a->kind = AWS_ERR_PERMANENT;
		return -1;
	}
	struct call c = {"POST", env->sts_endpoint, "/",
			 "application/x-www-form-urlencoded; charset=utf-8", NULL, "sts",
			 env->region, body, src};
	struct aws_sync_resp rs = {0};
	do_call(&c, &rs);
	free(body);
	classify(&rs, 1, a);
	int rc = -1;
	if (rs.status == 200) {
		struct aws_temp_creds n = {0};
		if (aws_sts_parse_assume_role(rs.body, rs.len, &n) == 0) {
			aws_temp_creds_free(out);
			*out = n;
			rc = 0;
		} else {
			snprintf(a->code, sizeof(a->code), "BadResponse");
			a->kind = AWS_ERR_RETRY;
		}
	}
	aws_sync_resp_free(&rs);
	return rc;
}

static int creds_fresh(const struct aws_temp_creds *c)
{
	return c->access_key_id && c->expiration - time(NULL) > CRED_MARGIN;
}

static enum outcome need_mgmt(struct prov *p)
{
	if (creds_fresh(&mgmt))
		return OUT_DONE;
	struct aws_creds base = {0};
	if (aws_identity_get(worker_aws_identity(), &base) < 0)
		return why(p, OUT_RETRY, "no AWS credentials for the gateway itself");
	struct aws_temp_creds src = {base.access_key_id, base.secret_access_key,
				     base.session_token, base.expiration};
	struct answer a = {0};
	int rc = assume(&src, cfg->management_role_arn, "sesgate-provisioning", &mgmt, &a);
	aws_creds_free(&base);
	if (rc < 0) {
		/* A wrong management role is a configuration error, but may be
		 * fixed by an admin while we retry: never permanent here. */
		answer_outcome(p, "AssumeRole into the management account", &a);
		return OUT_RETRY;
	}
	return OUT_DONE;
}

static enum outcome need_member(struct prov *p)
{
	if (strcmp(member_account, p->account_id) == 0 && creds_fresh(&member))
		return OUT_DONE;
	enum outcome o = need_mgmt(p);
	if (o != OUT_DONE)
		return o;
	char role[160], session[65];
	snprintf(role, sizeof(role), "arn:aws:iam::%s:role/%s", p->account_id, cfg->member_role_name);
	sts_session_name("sesgate-prov", p->name, session, sizeof(session));
	struct answer a = {0};
	if (assume(&mgmt, role, session, &member, &a) < 0) {
		member_account[0] = '\0';
		/* A new account's admin role takes a while to become assumable. */
		answer_outcome(p, "AssumeRole into the member account", &a);
		return OUT_RETRY;
	}
	snprintf(member_account, sizeof(member_account), "%s", p->account_id);
	return OUT_DONE;
}

/* ---- state in Redis ----------------------------------------------------- */

static void prov_key(char *k, const char *tid)
{
	snprintf(k, KEY_MAX, "sg:{%s}:prov", tid);
}

static int pset(struct prov *p, const char *field, const char *val)
{
	char k[KEY_MAX];
	prov_key(k, p->tid);
	return rok(p, "HSET %s %s %s", k, field, val);
}

static void step_field(char *out, size_t cap, const char *what, enum prov_step st)
{
	snprintf(out, cap, "%s:%s", what, prov_step_name(st));
}

/* ---- the steps ---------------------------------------------------------- */

static enum outcome st_mgmt_access(struct prov *p)
{
	return need_mgmt(p);
}

static int set_account(struct prov *p, const char *id)
{
	char kt[KEY_MAX];
	snprintf(p->account_id, sizeof(p->account_id), "%s", id);
	return pset(p, "account_id", id) < 0 ||
		       rok(p, "HSET %s aws_account_id %s", key_tenant(kt, p->tid), id) < 0 ||
		       rok(p, "HSET %s %s %s", KEY_ACCOUNTS, id, p->tid) < 0
		       ? -1
		       : 0;
}

/* A create request of ours from before a crash, found by account name. */
static enum outcome find_request(struct prov *p, const char *acct_name, int *found)
{
	char next[1024] = "";
	*found = 0;
	for (int page = 0; page < 50; page++) {
		char *body = orgs_list_create_account_status_body(NULL, next[0] ? next : NULL);
		struct aws_sync_resp rs = {0};
		struct answer a = {0};
		int rc = body ? orgs_call("ListCreateAccountStatus", body, &rs, &a) : -1;
		free(body);
		if (rc < 0) {
			aws_sync_resp_free(&rs);
			return answer_outcome(p, "ListCreateAccountStatus", &a);
		}
		struct orgs_cas list[20];
		size_t n = 0;
		next[0] = '\0';
		int prc = orgs_parse_cas_list(rs.body, rs.len, list, 20, &n, next, sizeof(next));
		aws_sync_resp_free(&rs);
		/* An unreadable page must not read as "no such request". */
		if (prc < 0)
			return why(p, OUT_RETRY, "ListCreateAccountStatus: unreadable answer");
		for (size_t i = 0; i < n; i++) {
			if (strcmp(list[i].account_name, acct_name) != 0 ||
			    strcmp(list[i].state, "FAILED") == 0)
				continue;
			if (pset(p, "car_id", list[i].id) < 0)
				return why(p, OUT_RETRY, "redis: cannot store the request id");
			if (list[i].account_id[0] && set_account(p, list[i].account_id) < 0)
				return why(p, OUT_RETRY, "redis: cannot store the account id");
			*found = 1;
			return OUT_DONE;
		}
		if (!next[0])
			break;
	}
	return OUT_DONE;
}

/* An account with our e-mail (created before a crash, or by hand). */
static enum outcome find_account(struct prov *p, int *found)
{
	char next[1024] = "";
	*found = 0;
	for (int page = 0; page < 200; page++) {
		char *body = orgs_list_accounts_body(next[0] ? next : NULL);
		struct aws_sync_resp rs = {0};
		struct answer a = {0};
		int rc = body ? orgs_call("ListAccounts", body, &rs, &a) : -1;
		free(body);
		if (rc < 0) {
			aws_sync_resp_free(&rs);
			return answer_outcome(p, "ListAccounts", &a);
		}
		struct orgs_account list[20];
		size_t n = 0;
		next[0] = '\0';
		int prc = orgs_parse_accounts(rs.body, rs.len, list, 20, &n, next, sizeof(next));
		aws_sync_resp_free(&rs);
		if (prc < 0)
			return why(p, OUT_RETRY, "ListAccounts: unreadable answer");
		for (size_t i = 0; i < n; i++)
			if (strcasecmp(list[i].email, p->email) == 0) {
				if (set_account(p, list[i].id) < 0)
					return why(p, OUT_RETRY, "redis: cannot store the account id");
				*found = 1;
				return OUT_DONE;
			}
		if (!next[0])
			break;
	}
	return OUT_DONE;
}

static enum outcome st_create_account(struct prov *p, const char *car_id)
{
	if (p->account_id[0] || (car_id && *car_id))
		return OUT_DONE;
	enum outcome o = need_mgmt(p);
	if (o != OUT_DONE)
		return o;
	/* AccountName is at most 50 characters; a long tenant name gives way
	 * to the (unique) tenant id. */
	char acct_name[80];
	if (strlen(ACCOUNT_NAME_PREFIX) + strlen(p->name) <= 50)
		snprintf(acct_name, sizeof(acct_name), ACCOUNT_NAME_PREFIX "%s", p->name);
	else
		snprintf(acct_name, sizeof(acct_name), ACCOUNT_NAME_PREFIX "%s", p->tid);
	int found;
	if ((o = find_request(p, acct_name, &found)) != OUT_DONE || found)
		return o;
	if ((o = find_account(p, &found)) != OUT_DONE || found)
		return o;
	struct aws_tag tags[] = {{"sesgate-tenant", p->name}, {"sesgate-tenant-id", p->tid}};
	char *body = orgs_create_account_body(p->email, acct_name, cfg->member_role_name, tags, 2);
	if (!body)
		return why(p, OUT_FAIL, "CreateAccount: invalid e-mail or account name");
	struct aws_sync_resp rs = {0};
	struct answer a = {0};
	int rc = orgs_call("CreateAccount", body, &rs, &a);
	free(body);
	if (rc < 0) {
		aws_sync_resp_free(&rs);
		return answer_outcome(p, "CreateAccount", &a);
	}
	struct orgs_cas cas;
	int prc = orgs_parse_cas(rs.body, rs.len, &cas);
	aws_sync_resp_free(&rs);
	if (prc < 0)
		return why(p, OUT_RETRY, "CreateAccount: unreadable answer");
	/* Stored before anything else: polling resumes from it after a crash. */
	if (pset(p, "car_id", cas.id) < 0)
		return why(p, OUT_RETRY, "redis: cannot store the request id");
	log_kv(LOG_NOTICE, "account_requested", "tenant", p->name, "request", cas.id, NULL);
	if (strcmp(cas.state, "FAILED") == 0)
		return why(p, OUT_FAIL, "CreateAccount failed: %s", cas.failure_reason);
	return OUT_DONE;
}

static enum outcome st_wait_account(struct prov *p, const char *car_id)
{
	if (p->account_id[0])
		return OUT_DONE;
	if (!car_id || !*car_id)
		return why(p, OUT_RETRY, "no account request id (create_account not done)");
	enum outcome o = need_mgmt(p);
	if (o != OUT_DONE)
		return o;
	char *body = orgs_describe_create_account_status_body(car_id);
	struct aws_sync_resp rs = {0};
	struct answer a = {0};
	int rc = body ? orgs_call("DescribeCreateAccountStatus", body, &rs, &a) : -1;
	free(body);
	if (rc < 0) {
		aws_sync_resp_free(&rs);
		return answer_outcome(p, "DescribeCreateAccountStatus", &a);
	}
	struct orgs_cas cas;
	int prc = orgs_parse_cas(rs.body, rs.len, &cas);
	aws_sync_resp_free(&rs);
	if (prc < 0)
		return why(p, OUT_RETRY, "DescribeCreateAccountStatus: unreadable answer");
	if (strcmp(cas.state, "SUCCEEDED") == 0) {
		if (set_account(p, cas.account_id) < 0)
			return why(p, OUT_RETRY, "redis: cannot store the account id");
		log_kv(LOG_NOTICE, "account_created", "tenant", p->name, "account", cas.account_id,
		       NULL);
		return OUT_DONE;
	}
	if (strcmp(cas.state, "FAILED") == 0) {
		/* A failed request is finished: `tenant retry` must create anew
		 * (after the admin fixed the cause), so the failure belongs to
		 * create_account and the request id is forgotten. */
		char kp[KEY_MAX];
		prov_key(kp, p->tid);
		rok(p, "HDEL %s car_id", kp);
		rok(p, "HSET %s step %s", kp, prov_step_name(PROV_ST_CREATE_ACCOUNT));
		p->step = PROV_ST_CREATE_ACCOUNT;
		return why(p, OUT_FAIL, "account creation failed: %s", cas.failure_reason);
	}
	snprintf(p->why, sizeof(p->why), "account creation in progress");
	return OUT_WAIT;
}

static const char *tier_ou(enum prov_tier t)
{
	return t == PROV_TIER_PRODUCTION ? cfg->ou_production
	       : t == PROV_TIER_SANDBOX  ? cfg->ou_sandbox
					 : cfg->ou_poc;
}

static enum outcome st_move_account(struct prov *p)
{
	enum outcome o = need_mgmt(p);
	if (o != OUT_DONE)
		return o;
	const char *ou = tier_ou(p->plan.tier);
	char *body = orgs_list_parents_body(p->account_id);
	struct aws_sync_resp rs = {0};
	struct answer a = {0};
	int rc = body ? orgs_call("ListParents", body, &rs, &a) : -1;
	free(body);
	char parent[96] = "";
	if (rc == 0)
		orgs_parse_first_id(rs.body, rs.len, "Parents", parent, sizeof(parent));
	aws_sync_resp_free(&rs);
	if (rc < 0)
		return answer_outcome(p, "ListParents", &a);
	if (!parent[0])
		return why(p, OUT_RETRY, "ListParents: no parent for account %s", p->account_id);
	if (strcmp(parent, ou) == 0)
		return OUT_DONE; /* moved before a crash */
	body = orgs_move_account_body(p->account_id, parent, ou);
	rc = body ? orgs_call("MoveAccount", body, &rs, &a) : -1;
	free(body);
	aws_sync_resp_free(&rs);
	if (rc < 0)
		return answer_outcome(p, "MoveAccount", &a);
	log_kv(LOG_NOTICE, "account_moved", "tenant", p->name, "account", p->account_id, "ou", ou,
	       NULL);
	return OUT_DONE;
}

static enum outcome st_member_access(struct prov *p)
{
	return need_member(p);
}

static enum outcome st_sending_role(struct prov *p, const char *extid_stored)
{
	enum outcome o = need_member(p);
	if (o != OUT_DONE)
		return o;
	char extid[40];
	if (extid_stored && *extid_stored) {
		snprintf(extid, sizeof(extid), "%s", extid_stored);
	} else {
		/* Chosen once and stored before the role exists. */
		if (util_random_hex(extid, 16) < 0 || pset(p, "external_id", extid) < 0)
			return why(p, OUT_RETRY, "cannot store a new external id");
	}
	char *trust = iam_trust_policy(cfg->gateway_principal_arn, extid);
	char desc[160];
	snprintf(desc, sizeof(desc), "sesgate sending role for tenant %s", p->name);
	struct aws_tag tags[] = {{"sesgate-tenant", p->name}, {"sesgate-tenant-id", p->tid}};
	char *body = trust ? iam_create_role_body(cfg->sending_role_name, trust, desc, 0, tags, 2)
			   : NULL;
	free(trust);
	if (!body)
		return why(p, OUT_FAIL, "CreateRole: invalid role or policy");
	struct aws_sync_resp rs = {0};
	struct answer a = {0};
	char arn[256] = "";
	int rc = iam_call(body, &rs, &a);
	free(body);
	if (rc == 0)
		iam_parse_role_arn(rs.body, rs.len, arn, sizeof(arn));
	aws_sync_resp_free(&rs);
	if (rc < 0 && a.kind != AWS_ERR_EXISTS)
		return answer_outcome(p, "CreateRole", &a);
	if (!arn[0]) {
		/* The role is there already (a crash after CreateRole, or an
		 * adopted account): make its trust policy ours. */
		char *enc_role = aws_form_encode(cfg->sending_role_name);
		char *tp = iam_trust_policy(cfg->gateway_principal_arn, extid);
		char *enc_tp = tp ? aws_form_encode(tp) : NULL;
		free(tp);
		size_t bl = (enc_role ? strlen(enc_role) : 0) + (enc_tp ? strlen(enc_tp) : 0) + 128;
		char *ub = enc_role && enc_tp ? malloc(bl) : NULL;
		if (ub)
			snprintf(ub, bl,
				 "Action=UpdateAssumeRolePolicy&Version=2010-05-08&RoleName=%s&PolicyDocument=%s",
				 enc_role, enc_tp);
		free(enc_role);
		free(enc_tp);
		rc = ub ? iam_call(ub, &rs, &a) : -1;
		free(ub);
		aws_sync_resp_free(&rs);
		if (rc < 0)
			return answer_outcome(p, "UpdateAssumeRolePolicy", &a);
		body = iam_get_role_body(cfg->sending_role_name);
		rc = body ? iam_call(body, &rs, &a) : -1;
		free(body);
		if (rc == 0)
			iam_parse_role_arn(rs.body, rs.len, arn, sizeof(arn));
		aws_sync_resp_free(&rs);
		if (rc < 0)
			return answer_outcome(p, "GetRole", &a);
		if (!arn[0])
			return why(p, OUT_RETRY, "GetRole: no role ARN in the answer");
	}
	char *policy = iam_sending_policy();
	body = policy ? iam_put_role_policy_body(cfg->sending_role_name, "sesgate-send", policy)
		      : NULL;
	free(policy);
	rc = body ? iam_call(body, &rs, &a) : -1;
	free(body);
	aws_sync_resp_free(&rs);
	if (rc < 0)
		return answer_outcome(p, "PutRolePolicy", &a);
	char kt[KEY_MAX];
	if (pset(p, "role_arn", arn) < 0 ||
	    rok(p, "HSET %s role_arn %s external_id %s", key_tenant(kt, p->tid), arn, extid) < 0)
		return why(p, OUT_RETRY, "redis: cannot store the role");
	log_kv(LOG_NOTICE, "sending_role_ready", "tenant", p->name, "role", arn, NULL);
	return OUT_DONE;
}

static enum outcome st_config_set(struct prov *p)
{
	enum outcome o = need_member(p);
	if (o != OUT_DONE)
		return o;
	struct aws_tag tags[] = {{"sesgate-tenant", p->name}, {"sesgate-tenant-id", p->tid}};
	char *body = ses_create_configuration_set_body(cfg->configuration_set_name, tags, 2);
	struct aws_sync_resp rs = {0};
	struct answer a = {0};
	int rc = body ? ses_call("POST", "/v2/email/configuration-sets", body, &rs, &a) : -1;
	free(body);
	aws_sync_resp_free(&rs);
	if (rc < 0 && a.kind != AWS_ERR_EXISTS)
		return answer_outcome(p, "CreateConfigurationSet", &a);
	char kt[KEY_MAX];
	if (rok(p, "HSET %s configuration_set %s", key_tenant(kt, p->tid),
		cfg->configuration_set_name) < 0)
		return why(p, OUT_RETRY, "redis: cannot store the configuration set");
	return OUT_DONE;
}

static enum outcome st_event_dest(struct prov *p)
{
	enum outcome o = need_member(p);
	if (o != OUT_DONE)
		return o;
	char seg[200], path[320];
	if (ses_path_segment(cfg->configuration_set_name, seg, sizeof(seg)) < 0)
		return why(p, OUT_FAIL, "bad configuration set name");
	snprintf(path, sizeof(path), "/v2/email/configuration-sets/%s/event-destinations", seg);
	char *body = ses_create_event_destination_body(EVENT_DEST_NAME, cfg->sns_topic_arn);
	struct aws_sync_resp rs = {0};
	struct answer a = {0};
	int rc = body ? ses_call("POST", path, body, &rs, &a) : -1;
	free(body);
	aws_sync_resp_free(&rs);
	if (rc < 0 && a.kind != AWS_ERR_EXISTS)
		return answer_outcome(p, "CreateConfigurationSetEventDestination", &a);
	return OUT_DONE;
}

/* GetEmailIdentity of DOMAIN into ID; stores its DKIM tokens and status. */
static enum outcome get_identity(struct prov *p, const char *domain, struct ses_identity *id)
{
	char seg[300], path[400];
	if (ses_path_segment(domain, seg, sizeof(seg)) < 0)
		return why(p, OUT_FAIL, "bad domain %s", domain);
	snprintf(path, sizeof(path), "/v2/email/identities/%s", seg);
	struct aws_sync_resp rs = {0};
	struct answer a = {0};
	int rc = ses_call("GET", path, NULL, &rs, &a);
	if (rc == 0 && ses_parse_identity(rs.body, rs.len, id) < 0)
		rc = -2;
	aws_sync_resp_free(&rs);
	if (rc == -2)
		return why(p, OUT_RETRY, "GetEmailIdentity %s: unreadable answer", domain);
	if (rc < 0)
		return answer_outcome(p, "GetEmailIdentity", &a);
	return OUT_DONE;
}

static int store_identity(struct prov *p, const char *domain, const struct ses_identity *id)
{
	json_t *o = json_pack("{s:b,s:s,s:s,s:s,s:[]}", "verified", id->verified_for_sending,
			      "verification", id->verification_status, "dkim", id->dkim_status,
			      "zone", id->dkim_zone, "tokens");
	for (int i = 0; o && i < id->ntokens; i++)
		json_array_append_new(json_object_get(o, "tokens"), json_string(id->dkim_tokens[i]));
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	char field[320];
	snprintf(field, sizeof(field), "identity:%s", domain);
	int rc = s ? pset(p, field, s) : -1;
	free(s);
	return rc;
}

static enum outcome st_identities(struct prov *p)
{
	enum outcome o = need_member(p);
	if (o != OUT_DONE)
		return o;
	if (p->ndomains == 0)
		return why(p, OUT_FAIL, "the tenant has no sending domain");
	struct aws_tag tags[] = {{"sesgate-tenant", p->name}, {"sesgate-tenant-id", p->tid}};
	for (int i = 0; i < p->ndomains; i++) {
		char *body = ses_create_email_identity_body(p->domains[i], cfg->configuration_set_name,
							    tags, 2);
		struct aws_sync_resp rs = {0};
		struct answer a = {0};
		struct ses_identity id;
		memset(&id, 0, sizeof(id));
		int rc = body ? ses_call("POST", "/v2/email/identities", body, &rs, &a) : -1;
		free(body);
		if (rc == 0 && ses_parse_identity(rs.body, rs.len, &id) < 0)
			rc = -2;
		aws_sync_resp_free(&rs);
		if (rc == -1 && a.kind == AWS_ERR_EXISTS)
			rc = get_identity(p, p->domains[i], &id) == OUT_DONE ? 0 : -3;
		if (rc == -3)
			return OUT_RETRY;
		if (rc == -2)
			return why(p, OUT_RETRY, "CreateEmailIdentity %s: unreadable answer",
				   p->domains[i]);
		if (rc < 0)
			return answer_outcome(p, "CreateEmailIdentity", &a);
		if (store_identity(p, p->domains[i], &id) < 0)
			return why(p, OUT_RETRY, "redis: cannot store the DKIM tokens");
	}
	return OUT_DONE;
}

static enum outcome st_verify(struct prov *p)
{
	enum outcome o = need_member(p);
	if (o != OUT_DONE)
		return o;
	int pending = 0;
	char waiting[300] = "";
	for (int i = 0; i < p->ndomains; i++) {
		struct ses_identity id;
		memset(&id, 0, sizeof(id));
		if ((o = get_identity(p, p->domains[i], &id)) != OUT_DONE)
			return o;
		store_identity(p, p->domains[i], &id);
		if (strcmp(id.verification_status, "FAILED") == 0 ||
		    strcmp(id.dkim_status, "FAILED") == 0)
			return why(p, OUT_FAIL,
				   "domain %s failed verification (DKIM records not found; publish "
				   "them, see sesgatectl tenant dns, then tenant retry)",
				   p->domains[i]);
		if (!id.verified_for_sending) {
			pending++;
			if (!waiting[0])
				snprintf(waiting, sizeof(waiting), "%s", p->domains[i]);
		}
	}
	if (pending) {
		snprintf(p->why, sizeof(p->why), "waiting for DNS: %d of %d domains unverified (%s%s)",
			 pending, p->ndomains, waiting, pending > 1 ? ", ..." : "");
		return OUT_WAIT;
	}
	return OUT_DONE;
}

static enum outcome st_production(struct prov *p)
{
	enum outcome o = need_member(p);
	if (o != OUT_DONE)
		return o;
	char *body = ses_put_account_details_body(cfg->production_mail_type,
						  cfg->production_website_url,
						  cfg->production_use_case, "EN", NULL, 0, 1);
	struct aws_sync_resp rs = {0};
	struct answer a = {0};
	int rc = body ? ses_call("POST", "/v2/email/account/details", body, &rs, &a) : -1;
	free(body);
	aws_sync_resp_free(&rs);
	/* ConflictException: a review is already pending (asked before a crash). */
	if (rc < 0 && strcmp(a.code, "ConflictException") != 0)
		return answer_outcome(p, "PutAccountDetails", &a);
	return OUT_DONE;
}

static enum outcome st_activate(struct prov *p)
{
	char kt[KEY_MAX], now[32];
	snprintf(now, sizeof(now), "%llu", (unsigned long long)util_now_ms());
	if (rok(p, "HSET %s state active paused_reason %s", key_tenant(kt, p->tid), "") < 0 ||
	    rok(p, "ZADD %s LT %s %s", KEY_SCHED, now, p->tid) < 0)
		return why(p, OUT_RETRY, "redis: cannot activate");
	log_kv(LOG_NOTICE, "tenant_active", "tenant", p->name, "account", p->account_id, NULL);
	return OUT_DONE;
}

/* ---- one tenant --------------------------------------------------------- */

static const char *hget(redisReply *h, const char *field)
{
	for (size_t i = 0; h && i + 1 < h->elements; i += 2)
		if (strcmp(h->element[i]->str, field) == 0)
			return h->element[i + 1]->str;
	return NULL;
}

static enum outcome run_step(struct prov *p, redisReply *ph)
{
	switch (p->step) {
	case PROV_ST_MGMT_ACCESS: return st_mgmt_access(p);
	case PROV_ST_CREATE_ACCOUNT: return st_create_account(p, hget(ph, "car_id"));
	case PROV_ST_WAIT_ACCOUNT: return st_wait_account(p, hget(ph, "car_id"));
	case PROV_ST_MOVE_ACCOUNT: return st_move_account(p);
	case PROV_ST_MEMBER_ACCESS: return st_member_access(p);
	case PROV_ST_SENDING_ROLE: return st_sending_role(p, hget(ph, "external_id"));
	case PROV_ST_CONFIG_SET: return st_config_set(p);
	case PROV_ST_EVENT_DEST: return st_event_dest(p);
	case PROV_ST_IDENTITIES: return st_identities(p);
	case PROV_ST_VERIFY: return st_verify(p);
	case PROV_ST_PRODUCTION: return st_production(p);
	case PROV_ST_ACTIVATE: return st_activate(p);
	default: return OUT_DONE;
	}
}

static void free_domains(struct prov *p)
{
	for (int i = 0; i < p->ndomains; i++)
		free(p->domains[i]);
	free(p->domains);
	p->domains = NULL;
	p->ndomains = 0;
}

static int load(struct prov *p, redisReply **ph_out)
{
	char kt[KEY_MAX], kp[KEY_MAX], kd[KEY_MAX];
	prov_key(kp, p->tid);
	redisReply *t = rcmd(p, "HMGET %s state name", key_tenant(kt, p->tid));
	if (!t || t->elements != 2 || t->element[0]->type != REDIS_REPLY_STRING) {
		if (t)
			freeReplyObject(t);
		return -1; /* tenant gone */
	}
	int provisioning = strcmp(t->element[0]->str, "provisioning") == 0;
	snprintf(p->name, sizeof(p->name), "%s",
		 t->element[1]->type == REDIS_REPLY_STRING ? t->element[1]->str : "");
	freeReplyObject(t);
	if (!provisioning)
		return -1;
	redisReply *ph = rcmd(p, "HGETALL %s", kp);
	if (!ph)
		return -1;
	const char *s;
	p->step = (s = hget(ph, "step")) && prov_step_parse(s) >= 0 ? prov_step_parse(s)
								  : PROV_ST_MGMT_ACCESS;
	snprintf(p->email, sizeof(p->email), "%s", (s = hget(ph, "email")) ? s : "");
	snprintf(p->account_id, sizeof(p->account_id), "%s", (s = hget(ph, "account_id")) ? s : "");
	int tier = prov_tier_parse(hget(ph, "tier"));
	p->plan.tier = tier < 0 ? PROV_TIER_PRODUCTION : (enum prov_tier)tier;
	p->plan.adopted = (s = hget(ph, "adopted")) && strcmp(s, "1") == 0;
	p->plan.have_ou = tier_ou(p->plan.tier)[0] != '\0';
	p->plan.have_topic = cfg->sns_topic_arn[0] != '\0';
	char f[96];
	step_field(f, sizeof(f), "n", p->step);
	p->failures = (s = hget(ph, f)) ? atoi(s) : 0;
	step_field(f, sizeof(f), "polls", p->step);
	p->polls = (s = hget(ph, f)) ? atoi(s) : 0;
	redisReply *d = rcmd(p, "SMEMBERS %s", key_tenant_domains(kd, p->tid));
	free_domains(p);
	if (d && d->elements) {
		p->domains = calloc(d->elements, sizeof(char *));
		for (size_t i = 0; p->domains && i < d->elements && i < MAX_DOMAINS; i++)
			p->domains[p->ndomains++] = strdup(d->element[i]->str);
	}
	if (d)
		freeReplyObject(d);
	*ph_out = ph;
	return 0;
}

static void maybe_crash(enum prov_step st)
{
	if (crash_after[0] && strcmp(crash_after, prov_step_name(st)) == 0) {
		log_kv(LOG_WARNING, "test_crash", "after", crash_after, NULL);
		raise(SIGKILL);
	}
}

/*
 * Store what the step came to; returns 1 to go on with the next step now,
 * 0 when the tenant waits (poll, retry) or is finished.
 */
static int record(struct prov *p, enum outcome o)
{
	char kp[KEY_MAX], kt[KEY_MAX], f_st[96], f_t[96], f_err[96], f_n[96], f_polls[96];
	char now[32], n[16], due[32];
	uint64_t tnow = util_now_ms();
	snprintf(now, sizeof(now), "%llu", (unsigned long long)tnow);
	prov_key(kp, p->tid);
	step_field(f_st, sizeof(f_st), "st", p->step);
	step_field(f_t, sizeof(f_t), "t", p->step);
	step_field(f_err, sizeof(f_err), "err", p->step);
	step_field(f_n, sizeof(f_n), "n", p->step);
	step_field(f_polls, sizeof(f_polls), "polls", p->step);
	if (o == OUT_RETRY && p->failures + 1 >= PROV_MAX_FAILURES)
		o = OUT_FAIL;
	switch (o) {
	case OUT_DONE: {
		enum prov_step next = prov_step_next(p->step, &p->plan);
		/* Skipped steps are shown as such. */
		for (enum prov_step s = p->step + 1; s < next; s++) {
			char f[96];
			step_field(f, sizeof(f), "st", s);
			rok(p, "HSET %s %s skipped", kp, f);
		}
		char f_next[96];
		step_field(f_next, sizeof(f_next), "st", next);
		if (rok(p, "HSET %s %s done %s %s %s %s step %s %s pending", kp, f_st, f_t, now, f_err,
			"", prov_step_name(next), f_next) < 0)
			return 0;
		log_kv(LOG_INFO, "provision_step", "tenant", p->name, "step",
		       prov_step_name(p->step), "result", "done", NULL);
		maybe_crash(p->step);
		if (next == PROV_ST_DONE) {
			rok(p, "ZREM %s %s", KEY_PROV, p->tid);
			return 0;
		}
		p->step = next;
		p->failures = p->polls = 0;
		return 1;
	}
	case OUT_WAIT:
		p->polls++;
		snprintf(n, sizeof(n), "%d", p->polls);
		snprintf(due, sizeof(due), "%llu",
			 (unsigned long long)(tnow + prov_poll_ms(p->polls, (uint64_t)cfg->provision_poll_ms)));
		rok(p, "HSET %s %s waiting %s %s %s %s %s %s", kp, f_st, f_t, now, f_err, p->why,
		    f_polls, n);
		rok(p, "ZADD %s %s %s", KEY_PROV, due, p->tid);
		return 0;
	case OUT_RETRY:
		p->failures++;
		snprintf(n, sizeof(n), "%d", p->failures);
		snprintf(due, sizeof(due), "%llu", (unsigned long long)(tnow + prov_backoff_ms(p->failures)));
		rok(p, "HSET %s %s retrying %s %s %s %s %s %s", kp, f_st, f_t, now, f_err, p->why, f_n,
		    n);
		rok(p, "ZADD %s %s %s", KEY_PROV, due, p->tid);
		log_kv(LOG_WARNING, "provision_retry", "tenant", p->name, "step",
		       prov_step_name(p->step), "reason", p->why, NULL);
		return 0;
	case OUT_FAIL:
		rok(p, "HSET %s %s failed %s %s %s %s", kp, f_st, f_t, now, f_err, p->why);
		rok(p, "HSET %s state failed paused_reason %s", key_tenant(kt, p->tid), p->why);
		rok(p, "ZREM %s %s", KEY_PROV, p->tid);
		log_kv(LOG_ERR, "provision_failed", "tenant", p->name, "step",
		       prov_step_name(p->step), "reason", p->why, NULL);
		return 0;
	}
	return 0;
}

static const char release_lua[] =
	"if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end\n"
	"return 0\n";

static void provision_one(redisContext *rc, const char *tid)
{
	struct prov p;
	memset(&p, 0, sizeof(p));
	p.rc = rc;
	snprintf(p.tid, sizeof(p.tid), "%s", tid);
	snprintf(lease.key, sizeof(lease.key), "sg:{%s}:prov:lease", tid);
	snprintf(lease.owner, sizeof(lease.owner), "%s:%lu", g_instance,
		 (unsigned long)pthread_self());
	redisReply *r = rcmd(&p, "SET %s %s PX %d NX", lease.key, lease.owner, lease_ms());
	int got = r && r->type == REDIS_REPLY_STATUS;
	if (r)
		freeReplyObject(r);
	if (!got)
		return; /* another instance is on it */
	lease.rc = rc;
	lease.lost = 0;
	redisReply *ph = NULL;
	if (load(&p, &ph) < 0) {
		rok(&p, "ZREM %s %s", KEY_PROV, tid);
	} else {
		for (int guard = 0; guard < PROV_ST_COUNT && !atomic_load(&stopping); guard++) {
			enum outcome o = run_step(&p, ph);
			/* Without the lease, what we learned may be stale: the
			 * new holder redoes the step (every step is idempotent). */
			if (lease.lost || !record(&p, o))
				break;
			/* The next step sees what this one stored. */
			freeReplyObject(ph);
			ph = NULL;
			char kp[KEY_MAX];
			prov_key(kp, tid);
			if (!(ph = rcmd(&p, "HGETALL %s", kp)))
				break;
			if (lease_renew() < 0)
				break;
		}
	}
	if (ph)
		freeReplyObject(ph);
	free_domains(&p);
	r = redisCommand(rc, "EVAL %s 1 %s %s", release_lua, lease.key, lease.owner);
	if (r)
		freeReplyObject(r);
	lease.rc = NULL;
}

/* ---- the thread ---------------------------------------------------------- */

static void nap(int ms)
{
	for (int i = 0; i < ms / 50 && !atomic_load(&stopping); i++) {
		struct timespec ts = {0, 50 * 1000000};
		nanosleep(&ts, NULL);
	}
}

static void *prov_main(void *arg)
{
	redisContext *rc = NULL;
	char err[256];
	while (!atomic_load(&stopping)) {
		if (!rc) {
			rc = rconn_connect_sync(cfg, err, sizeof(err));
			if (!rc) {
				nap(1000);
				continue;
			}
		}
		char now[32];
		snprintf(now, sizeof(now), "%llu", (unsigned long long)util_now_ms());
		redisReply *r = redisCommand(rc, "ZRANGEBYSCORE %s -inf %s LIMIT 0 %d", KEY_PROV, now,
					     BATCH);
		if (!r || rc->err) {
			if (r)
				freeReplyObject(r);
			redisFree(rc);
			rc = NULL;
			continue;
		}
		for (size_t i = 0; r->type == REDIS_REPLY_ARRAY && i < r->elements; i++)
			if (key_valid_tenant_id(r->element[i]->str) && !atomic_load(&stopping))
				provision_one(rc, r->element[i]->str);
		int idle = r->type != REDIS_REPLY_ARRAY || r->elements == 0;
		freeReplyObject(r);
		if (rc->err) {
			redisFree(rc);
			rc = NULL;
		}
		if (idle)
			nap(IDLE_MS);
	}
	if (rc)
		redisFree(rc);
	return NULL;
}

int provision_start(const struct config *c, char *err, size_t errlen)
{
	if (!c->management_role_arn[0])
		return 0;
	cfg = c;
	if (aws_setup(c, err, errlen) < 0)
		return -1;
	endpoint_from_env(orgs_endpoint, sizeof(orgs_endpoint), "AWS_ENDPOINT_URL_ORGANIZATIONS",
			  "https://organizations.us-east-1.amazonaws.com");
	endpoint_from_env(iam_endpoint, sizeof(iam_endpoint), "AWS_ENDPOINT_URL_IAM",
			  "https://iam.amazonaws.com");
	const char *crash = getenv("SESGATE_TEST_PROV_CRASH_AFTER");
	snprintf(crash_after, sizeof(crash_after), "%s", crash ? crash : "");
	atomic_store(&stopping, 0);
	if (pthread_create(&th, NULL, prov_main, NULL) != 0) {
		snprintf(err, errlen, "cannot start the provisioning thread");
		return -1;
	}
	running = 1;
	log_kv(LOG_INFO, "provisioning_started", "management_role", c->management_role_arn, NULL);
	return 0;
}

void provision_stop(void)
{
	if (!running)
		return;
	atomic_store(&stopping, 1);
	pthread_join(th, NULL);
	running = 0;
	aws_temp_creds_free(&mgmt);
	aws_temp_creds_free(&member);
}
