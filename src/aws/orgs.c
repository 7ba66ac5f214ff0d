/*
 * orgs.c - AWS Organizations request bodies and answer parsers for the
 * provisioning thread (create, find, place and tag member accounts).
 *
 * Pure: no I/O, no clock, no globals, no logging; any thread may call it.
 * Ids from the answers decide which account gets a tenant's mail, so they
 * are checked against their documented patterns and never truncated: a
 * value that does not fit is an error, not a shorter id.  Free text
 * (names, failure reasons) is sanitised and may be cut.
 */
#include "aws/orgs.h"

#include <string.h>

#include <jansson.h>

#include "aws/awsjson.h"
#include "aws/iam.h"

/* ------------------------------------------------------------------ */
/* Id patterns                                                         */

static int is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static int is_lower_alnum(int c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z');
}

static int is_policy_char(int c)
{
	return is_lower_alnum(c) || (c >= 'A' && c <= 'Z') || c == '_';
}

/* Length of the run of @ok characters at @s if it is min..max, else 0. */
static size_t run(const char *s, int (*ok)(int), size_t min, size_t max)
{
	size_t n = 0;

	while (s[n] && ok((unsigned char)s[n]))
		n++;
	return n >= min && n <= max ? n : 0;
}

/* @prefix then min..max of @ok, and nothing after. */
static int prefixed(const char *s, const char *prefix, int (*ok)(int), size_t min, size_t max)
{
	size_t k = strlen(prefix), n;

	if (!s || strncmp(s, prefix, k) != 0)
		return 0;
	n = run(s + k, ok, min, max);
	return n && s[k + n] == '\0';
}

int orgs_account_id_valid(const char *s)
{
	return s && run(s, is_digit, 12, 12) && s[12] == '\0';
}

int orgs_root_id_valid(const char *s)
{
	return prefixed(s, "r-", is_lower_alnum, 4, 32);
}

static int ou_id_valid(const char *s)
{
	size_t n;

	if (!s || strncmp(s, "ou-", 3) != 0 || !(n = run(s + 3, is_lower_alnum, 4, 32)) ||
	    s[3 + n] != '-')
		return 0;
	return prefixed(s + 3 + n, "-", is_lower_alnum, 8, 32);
}

int orgs_parent_id_valid(const char *s)
{
	return orgs_root_id_valid(s) || ou_id_valid(s);
}

static int car_id_valid(const char *s)
{
	return prefixed(s, "car-", is_lower_alnum, 8, 32);
}

/* TagResource targets: account, root, OU or policy. */
static int resource_id_valid(const char *s)
{
	return orgs_account_id_valid(s) || orgs_parent_id_valid(s) ||
	       prefixed(s, "p-", is_policy_char, 8, 128);
}

/* Printable ASCII (space included when @space), min..max octets. */
static int printable(const char *s, size_t min, size_t max, int space)
{
	size_t n = 0;

	if (!s)
		return 0;
	for (; s[n]; n++) {
		unsigned char c = (unsigned char)s[n];
		if (c < (space ? 0x20 : 0x21) || c > 0x7e)
			return 0;
	}
	return n >= min && n <= max;
}

/* The CreateAccount Email shape, [^\s@]+@[^\s@]+\.[^\s@]+ in 6..64,
 * narrowed to printable ASCII (the address of an AWS root user). */
static int email_ok(const char *e)
{
	const char *at, *dot;

	if (!printable(e, ORGS_EMAIL_MIN, ORGS_EMAIL_MAX, 0))
		return 0;
	at = strchr(e, '@');
	if (!at || at == e || strchr(at + 1, '@'))
		return 0;
	dot = strrchr(at + 1, '.');
	return dot && dot > at + 1 && dot[1] != '\0';
}

static int next_token_ok(const char *t)
{
	return strlen(t) <= ORGS_NEXT_TOKEN_MAX;
}

static int state_valid(const char *s)
{
	return strcmp(s, "IN_PROGRESS") == 0 || strcmp(s, "SUCCEEDED") == 0 ||
	       strcmp(s, "FAILED") == 0;
}

/* ------------------------------------------------------------------ */
/* Bodies                                                              */

static int set_token(json_t *o, const char *next_token)
{
	if (!next_token || !*next_token)
		return 0;
	if (!next_token_ok(next_token))
		return 1;
	return aws_json_set_str(o, "NextToken", next_token);
}

char *orgs_create_account_body(const char *email, const char *account_name, const char *role_name,
                               const struct aws_tag *tags, size_t ntags)
{
	int has_role = role_name && *role_name;
	json_t *o;
	int bad = 0;

	if (!email_ok(email) || !printable(account_name, 1, ORGS_ACCOUNT_NAME_MAX, 1) ||
	    (has_role && !iam_role_name_valid(role_name)) || !aws_tags_valid(tags, ntags))
		return NULL;
	o = json_object();
	bad |= aws_json_set_str(o, "Email", email);
	bad |= aws_json_set_str(o, "AccountName", account_name);
	if (has_role)
		bad |= aws_json_set_str(o, "RoleName", role_name);
	if (ntags)
		bad |= json_object_set_new(o, "Tags", aws_json_tags(tags, ntags)) < 0;
	return aws_json_finish(o, bad);
}

char *orgs_describe_create_account_status_body(const char *request_id)
{
	json_t *o;

	if (!car_id_valid(request_id))
		return NULL;
	o = json_object();
	return aws_json_finish(o, aws_json_set_str(o, "CreateAccountRequestId", request_id));
}

char *orgs_list_create_account_status_body(const char *state, const char *next_token)
{
	json_t *o;
	int bad = 0;

	if (state && !state_valid(state))
		return NULL;
	o = json_object();
	if (state)
		bad |= json_object_set_new(o, "States", json_pack("[s]", state)) < 0;
	bad |= json_object_set_new(o, "MaxResults", json_integer(ORGS_PAGE_MAX)) < 0;
	bad |= set_token(o, next_token);
	return aws_json_finish(o, bad);
}

char *orgs_list_accounts_body(const char *next_token)
{
	json_t *o = json_object();
	int bad = 0;

	bad |= json_object_set_new(o, "MaxResults", json_integer(ORGS_PAGE_MAX)) < 0;
	bad |= set_token(o, next_token);
	return aws_json_finish(o, bad);
}

char *orgs_list_roots_body(const char *next_token)
{
	json_t *o = json_object();

	return aws_json_finish(o, set_token(o, next_token));
}

char *orgs_list_parents_body(const char *child_id)
{
	json_t *o;

	if (!orgs_account_id_valid(child_id) && !ou_id_valid(child_id))
		return NULL;
	o = json_object();
	return aws_json_finish(o, aws_json_set_str(o, "ChildId", child_id));
}

char *orgs_move_account_body(const char *account_id, const char *source_parent,
                             const char *dest_parent)
{
	json_t *o;
	int bad = 0;

	if (!orgs_account_id_valid(account_id) || !orgs_parent_id_valid(source_parent) ||
	    !orgs_parent_id_valid(dest_parent))
		return NULL;
	o = json_object();
	bad |= aws_json_set_str(o, "AccountId", account_id);
	bad |= aws_json_set_str(o, "SourceParentId", source_parent);
	bad |= aws_json_set_str(o, "DestinationParentId", dest_parent);
	return aws_json_finish(o, bad);
}

char *orgs_tag_resource_body(const char *resource_id, const struct aws_tag *tags, size_t ntags)
{
	json_t *o;
	int bad = 0;

	if (!resource_id_valid(resource_id) || ntags == 0 || !aws_tags_valid(tags, ntags))
		return NULL;
	o = json_object();
	bad |= aws_json_set_str(o, "ResourceId", resource_id);
	bad |= json_object_set_new(o, "Tags", aws_json_tags(tags, ntags)) < 0;
	return aws_json_finish(o, bad);
}

/* ------------------------------------------------------------------ */
/* Answers                                                             */

/* A short upper-case enum value (State): [A-Z_]{1,cap-1}. */
static int enum_ok(const char *s, size_t cap)
{
	size_t n = 0;

	for (; s[n]; n++)
		if (!((s[n] >= 'A' && s[n] <= 'Z') || s[n] == '_'))
			return 0;
	return n >= 1 && n < cap;
}

static int cas_from(json_t *o, void *dst)
{
	struct orgs_cas *out = dst;
	const char *id, *state, *acct, *name, *reason;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o) || aws_json_opt_str(o, "Id", &id) != 1 || !car_id_valid(id) ||
	    aws_json_opt_str(o, "State", &state) != 1 || !enum_ok(state, sizeof(out->state)) ||
	    aws_json_opt_str(o, "AccountId", &acct) < 0 || (acct && !orgs_account_id_valid(acct)) ||
	    aws_json_opt_str(o, "AccountName", &name) < 0 || aws_json_opt_str(o, "FailureReason", &reason) < 0)
		goto bad;
	if (strcmp(state, "SUCCEEDED") == 0 && !acct)
		goto bad;
	memcpy(out->id, id, strlen(id) + 1);
	memcpy(out->state, state, strlen(state) + 1);
	if (acct)
		memcpy(out->account_id, acct, 13);
	aws_text_copy(out->account_name, sizeof(out->account_name), name);
	aws_text_copy(out->failure_reason, sizeof(out->failure_reason), reason);
	return 0;
bad:
	memset(out, 0, sizeof(*out));
	return -1;
}

int orgs_parse_cas(const char *body, size_t len, struct orgs_cas *out)
{
	json_t *root, *st;
	int rc = -1;

	if (!out)
		return -1;
	memset(out, 0, sizeof(*out));
	if (!body)
		return -1;
	root = json_loadb(body, len, 0, NULL);
	st = json_object_get(root, "CreateAccountStatus");
	if (!st)
		st = root;
	if (st)
		rc = cas_from(st, out);
	json_decref(root);
	return rc;
}

static int account_from(json_t *o, void *dst)
{
	struct orgs_account *out = dst;
	const char *id, *email, *name, *status;
	int rs;

	memset(out, 0, sizeof(*out));
	if (!json_is_object(o) || aws_json_opt_str(o, "Id", &id) != 1 || !orgs_account_id_valid(id) ||
	    aws_json_opt_str(o, "Email", &email) < 0 || (email && strlen(email) >= sizeof(out->email)) ||
	    aws_json_opt_str(o, "Name", &name) < 0 || (rs = aws_json_opt_str(o, "Status", &status)) < 0 ||
	    (rs == 0 && aws_json_opt_str(o, "State", &status) < 0)) {
		memset(out, 0, sizeof(*out));
		return -1;
	}
	memcpy(out->id, id, 13);
	aws_text_copy(out->email, sizeof(out->email), email);
	aws_text_copy(out->name, sizeof(out->name), name);
	aws_text_copy(out->status, sizeof(out->status), status);
	return 0;
}

/* One page of a list: @key's array through @one into @out[0..cap), and
 * the NextToken.  See orgs_parse_cas_list for why all or nothing. */
static int parse_page(const char *body, size_t len, const char *key, int (*one)(json_t *, void *),
                      void *out, size_t elsize, size_t cap, size_t *n, char *next_token,
                      size_t ntcap)
{
	json_t *root, *arr, *v;
	const char *tok;
	size_t i;
	int rc = -1;

	if (n)
		*n = 0;
	aws_text_copy(next_token, ntcap, "");
	if (!body || !n || (!out && cap))
		return -1;
	root = json_loadb(body, len, 0, NULL);
	arr = json_object_get(root, key);
	if (!json_is_array(arr) || json_array_size(arr) > cap)
		goto done;
	json_array_foreach(arr, i, v)
	{
		if (one(v, (char *)out + i * elsize) < 0)
			goto done;
	}
	switch (aws_json_opt_str(root, "NextToken", &tok)) {
	case -1:
		goto done;
	case 1:
		/* Without a buffer the caller takes one page only. */
		if (next_token && ntcap) {
			if (strlen(tok) >= ntcap)
				goto done;
			memcpy(next_token, tok, strlen(tok) + 1);
		}
		break;
	}
	*n = json_array_size(arr);
	rc = 0;
done:
	if (rc < 0) {
		if (out && cap)
			memset(out, 0, elsize * cap);
		aws_text_copy(next_token, ntcap, "");
	}
	json_decref(root);
	return rc;
}

int orgs_parse_cas_list(const char *body, size_t len, struct orgs_cas *out, size_t cap, size_t *n,
                        char *next_token, size_t ntcap)
{
	return parse_page(body, len, "CreateAccountStatuses", cas_from, out, sizeof(*out), cap, n,
	                  next_token, ntcap);
}

int orgs_parse_accounts(const char *body, size_t len, struct orgs_account *out, size_t cap,
                        size_t *n, char *next_token, size_t ntcap)
{
	return parse_page(body, len, "Accounts", account_from, out, sizeof(*out), cap, n,
	                  next_token, ntcap);
}

static int first_id(const char *body, size_t len, const char *key, char *out, size_t cap,
                    char *type, size_t typecap)
{
	int roots = key && strcmp(key, "Roots") == 0;
	int parents = key && strcmp(key, "Parents") == 0;
	json_t *root, *e;
	const char *id, *t;
	int rc = -1;

	aws_text_copy(out, cap, "");
	aws_text_copy(type, typecap, "");
	if (!body || !out || cap == 0 || (!roots && !parents))
		return -1;
	root = json_loadb(body, len, 0, NULL);
	e = json_array_get(json_object_get(root, key), 0);
	if (!json_is_object(e) || aws_json_opt_str(e, "Id", &id) != 1 || aws_json_opt_str(e, "Type", &t) < 0)
		goto done;
	if (roots ? !orgs_root_id_valid(id) : !orgs_parent_id_valid(id))
		goto done;
	if (t && parents) {
		int is_root = id[0] == 'r';
		if (strcmp(t, is_root ? "ROOT" : "ORGANIZATIONAL_UNIT") != 0)
			goto done;
	}
	if (strlen(id) >= cap)
		goto done;
	memcpy(out, id, strlen(id) + 1);
	aws_text_copy(type, typecap, t);
	rc = 0;
done:
	json_decref(root);
	return rc;
}

int orgs_parse_first_id(const char *body, size_t len, const char *array_key, char *out, size_t cap)
{
	return first_id(body, len, array_key, out, cap, NULL, 0);
}

int orgs_parse_first_parent(const char *body, size_t len, char *id, size_t cap, char *type,
                            size_t typecap)
{
	return first_id(body, len, "Parents", id, cap, type, typecap);
}
