/*
 * orgs.h - AWS Organizations request bodies and answers (awsJson1_1).
 *
 * Pure functions: no I/O, no clock, no globals, no logging; any thread.
 * The caller sends each body as POST / to organizations.us-east-1
 * (signed for us-east-1, service "organizations") with
 * Content-Type: application/x-amz-json-1.1 and
 * X-Amz-Target: AWSOrganizationsV20161128.<Operation>.
 *
 * Builders return a heap string (compact JSON) the caller frees, or NULL
 * for invalid input or out of memory.  Every identifier is checked against
 * its documented pattern first, so nothing malformed is ever sent.
 */
#ifndef SESGATE_AWS_ORGS_H
#define SESGATE_AWS_ORGS_H

#include <stddef.h>

#include "aws/awsjson.h" /* errors and retry classes of these answers; struct aws_tag */

/* The list bodies ask for this many entries per page (the API's maximum
 * for ListAccounts and ListCreateAccountStatus); arrays of this size
 * always hold a page. */
#define ORGS_PAGE_MAX 20

#define ORGS_EMAIL_MIN        6
#define ORGS_EMAIL_MAX        64
#define ORGS_ACCOUNT_NAME_MAX 50
#define ORGS_NEXT_TOKEN_MAX   100000

/* 1 when @s is exactly 12 ASCII digits (an AWS account id). */
int orgs_account_id_valid(const char *s);
/* 1 for a root id "r-" + 4..32 of [0-9a-z]. */
int orgs_root_id_valid(const char *s);
/* 1 for a root id or an OU id "ou-" + 4..32 [0-9a-z] + "-" + 8..32 [0-9a-z]. */
int orgs_parent_id_valid(const char *s);

/*
 * CreateAccount: {"Email","AccountName"[,"RoleName"][,"Tags"]}.
 * @email 6..64 printable ASCII, one '@', a '.' in the domain part;
 * @account_name 1..50 printable ASCII; @role_name NULL or "" = the
 * default (OrganizationAccountAccessRole), else an IAM role name;
 * @tags see aws_tags_valid() (n == 0: none).
 */
char *orgs_create_account_body(const char *email, const char *account_name, const char *role_name,
                               const struct aws_tag *tags, size_t ntags);

/* DescribeCreateAccountStatus: {"CreateAccountRequestId"} ("car-" + 8..32 [a-z0-9]). */
char *orgs_describe_create_account_status_body(const char *request_id);

/*
 * ListCreateAccountStatus: {["States":[STATE],]"MaxResults":20[,"NextToken"]}.
 * @state NULL = every state, else IN_PROGRESS, SUCCEEDED or FAILED;
 * @next_token NULL or "" = first page.
 */
char *orgs_list_create_account_status_body(const char *state, const char *next_token);

/* ListAccounts: {"MaxResults":20[,"NextToken"]}. */
char *orgs_list_accounts_body(const char *next_token);

/* ListRoots: {} or {"NextToken"}. */
char *orgs_list_roots_body(const char *next_token);

/* ListParents: {"ChildId"} (an account id or an OU id). */
char *orgs_list_parents_body(const char *child_id);

/* MoveAccount: {"AccountId","SourceParentId","DestinationParentId"}. */
char *orgs_move_account_body(const char *account_id, const char *source_parent,
                             const char *dest_parent);

/* TagResource: {"ResourceId","Tags"}; resource an account, root, OU or
 * policy id; 1..50 tags. */
char *orgs_tag_resource_body(const char *resource_id, const struct aws_tag *tags, size_t ntags);

/*
 * A CreateAccountStatus.  @id ("car-...") and @state (IN_PROGRESS,
 * SUCCEEDED, FAILED) are always set; @account_id is 12 digits or "" (always
 * set when SUCCEEDED); @account_name and @failure_reason are "" when
 * absent, sanitised and possibly truncated (display only; account names
 * are at most 50 characters, so ours always fit).
 */
struct orgs_cas {
	char id[64], state[16], account_id[16], account_name[64], failure_reason[64];
};

/*
 * The answer of CreateAccount or DescribeCreateAccountStatus,
 * {"CreateAccountStatus":{...}}, or a bare status object.  Returns 0 and
 * fills @out, or -1 (then @out is zeroed) when the body is not JSON, Id or
 * State is missing or malformed, a member has the wrong type, AccountId is
 * not 12 digits, or the state is SUCCEEDED without an AccountId.
 */
int orgs_parse_cas(const char *body, size_t len, struct orgs_cas *out);

/*
 * A ListCreateAccountStatus page: up to @cap entries of
 * "CreateAccountStatuses" into @out, their number in *@n, and "NextToken"
 * into @next_token ("" on the last page).  One malformed entry, more
 * entries than @cap, a missing array or a token that does not fit in
 * @ntcap fail the whole page: the caller searches these for its own
 * request, and a page read in part could hide it.  Returns 0, or -1 with
 * *@n = 0 and @next_token = "".
 */
int orgs_parse_cas_list(const char *body, size_t len, struct orgs_cas *out, size_t cap, size_t *n,
                        char *next_token, size_t ntcap);

/* One account of ListAccounts.  @id is 12 digits; the rest may be "". */
struct orgs_account {
	char id[16], email[128], name[64], status[32];
};

/*
 * A ListAccounts page ("Accounts", "NextToken"), with the same contract as
 * orgs_parse_cas_list.  Id is required; an Email that does not fit is an
 * error (it is matched, never truncated); Name and Status ("Status", or
 * the newer "State" when Status is absent) are sanitised and truncated.
 */
int orgs_parse_accounts(const char *body, size_t len, struct orgs_account *out, size_t cap,
                        size_t *n, char *next_token, size_t ntcap);

/*
 * The Id of the first element of @array_key in a ListRoots ("Roots") or
 * ListParents ("Parents") answer, checked as a root id (Roots) or a root
 * or OU id (Parents).  Returns 0 and copies it into @out, or -1 (@out =
 * "") when absent, empty, malformed or longer than @cap allows.
 */
int orgs_parse_first_id(const char *body, size_t len, const char *array_key, char *out, size_t cap);

/*
 * orgs_parse_first_id for "Parents", also giving the parent's Type (ROOT
 * or ORGANIZATIONAL_UNIT) into @type (@typecap; may be NULL with 0).  A
 * Type that contradicts the id's prefix is an error.
 */
int orgs_parse_first_parent(const char *body, size_t len, char *id, size_t cap, char *type,
                            size_t typecap);

#endif /* SESGATE_AWS_ORGS_H */
