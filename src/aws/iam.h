/*
 * iam.h - IAM request bodies (query protocol, Version=2010-05-08, form
 * encoded), the CreateRole / GetRole answer, and the two policies the
 * provisioning thread installs in a tenant's member account.
 *
 * Pure functions: no I/O, no clock, no globals, no logging; any thread.
 * IAM is global: POST / to iam.amazonaws.com, signed for us-east-1.
 */
#ifndef SESGATE_AWS_IAM_H
#define SESGATE_AWS_IAM_H

#include <stddef.h>

#include "aws/awstypes.h"

#define IAM_ROLE_NAME_MAX   64
#define IAM_POLICY_NAME_MAX 128
#define IAM_POLICY_DOC_MAX  131072 /* octets */
#define IAM_DESCRIPTION_MAX 1000   /* characters */
#define IAM_SESSION_MIN     3600   /* MaxSessionDuration bounds */
#define IAM_SESSION_MAX     43200
#define IAM_ARN_MAX         2048

/* 1 when @name is an IAM role name: 1..64 of [A-Za-z0-9_+=,.@-]. */
int iam_role_name_valid(const char *name);

/*
 * Action=CreateRole body: RoleName, AssumeRolePolicyDocument (@trust, a
 * JSON object such as iam_trust_policy() makes), optional Description
 * (@description NULL or "" = none; 1..1000 characters of tab, CR, LF,
 * printable ASCII and U+00A1..U+00FF, as IAM allows), MaxSessionDuration
 * (0 = omit, else 3600..43200) and Tags.member.N.Key/Value (IAM tag rules:
 * letters, digits, spaces and _.:/=+-@; keys unique ignoring case).
 * Every value is percent-encoded with aws_form_encode().
 *
 * Returns a heap string the caller frees, or NULL for invalid input (the
 * policy is not a JSON object, holds characters IAM refuses, or is larger
 * than 128 KiB; a name or tag breaks the rules above) or out of memory.
 */
char *iam_create_role_body(const char *role_name, const char *trust, const char *description,
                           int max_session_duration, const struct aws_tag *tags, size_t ntags);

/*
 * Action=PutRolePolicy body: an inline policy @policy_name (1..128 of
 * [A-Za-z0-9_+=,.@-]) holding @policy (a JSON object) on @role_name.
 * Putting the same policy again replaces it, so this call is idempotent.
 * Heap string or NULL, as above.
 */
char *iam_put_role_policy_body(const char *role_name, const char *policy_name, const char *policy);

/* Action=GetRole body.  Heap string or NULL. */
char *iam_get_role_body(const char *role_name);

/*
 * The role's Arn from a CreateRoleResponse or GetRoleResponse
 * (<X>Response/<X>Result/Role/Arn).  A small XML reader: tags must nest,
 * DTDs are refused, the five predefined entities and character references
 * are decoded.  The ARN must look like arn:PARTITION:iam::ACCOUNT:role/NAME
 * with a 12-digit account and printable ASCII throughout.  Returns 0 and
 * copies it into @arn (NUL-terminated), or -1 (@arn = "") when it is
 * absent, malformed or does not fit in @cap.
 */
int iam_parse_role_arn(const char *xml, size_t len, char *arn, size_t cap);

/*
 * The role trust policy letting @principal_arn (the gateway's own role or
 * account, an IAM ARN) assume the role, only when it presents
 * @external_id (2..1224 of [\w+=,.@:/-]; NULL or "" = no condition):
 *   {"Version":"2012-10-17","Statement":[{"Effect":"Allow",
 *    "Principal":{"AWS":ARN},"Action":"sts:AssumeRole",
 *    "Condition":{"StringEquals":{"sts:ExternalId":ID}}}]}
 * Compact JSON, keys in that order.  Heap string or NULL (invalid input).
 */
char *iam_trust_policy(const char *principal_arn, const char *external_id);

/*
 * The sending role's only permissions: ses:SendEmail, ses:SendRawEmail and
 * ses:GetAccount on "*" (iam.c says why each).  Compact JSON; heap string,
 * NULL only when out of memory.
 */
char *iam_sending_policy(void);

#endif /* SESGATE_AWS_IAM_H */
