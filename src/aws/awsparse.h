/*
 * Parsers for AWS credential material: the shared config/credentials INI
 * files (~/.aws/config, ~/.aws/credentials) and the STS AssumeRole XML
 * response and XML error documents.
 *
 * Pure functions: the caller hands in the bytes (already read from disk or
 * the network); nothing here does I/O, reads the environment or the clock,
 * keeps global state or logs.  Secrets (secret keys, session tokens) are
 * returned only in heap strings owned by the caller, who must release them
 * with the matching *_free() function, which wipes them first.  Error
 * results never carry any part of a secret.
 */
#ifndef SESGATE_AWS_AWSPARSE_H
#define SESGATE_AWS_AWSPARSE_H

#include <stddef.h>
#include <time.h>

/*
 * One profile from a shared config or credentials file.  Each member is a
 * NUL-terminated heap string, or NULL when the key was absent.  A key
 * present with an empty value gives "".  Owned by the caller; release with
 * aws_profile_free().
 */
struct aws_profile {
	char *aws_access_key_id;
	char *aws_secret_access_key;	/* secret */
	char *aws_session_token;	/* secret */
	char *region;
	char *role_arn;
	char *source_profile;
	char *external_id;
	char *web_identity_token_file;
	char *role_session_name;
};

/*
 * Find @profile in the INI text @text (@len bytes, need not be
 * NUL-terminated).  @config_style 1: ~/.aws/config, where sections are
 * "[default]" and "[profile NAME]"; 0: ~/.aws/credentials, where sections
 * are "[NAME]".  Sections of the same profile appearing more than once are
 * merged and later keys win.
 *
 * @out is overwritten (not freed) on entry and holds owned strings only
 * when 0 is returned; on any other result it is left all-NULL.
 *
 * Returns 0 found, 1 profile not present, -1 malformed text (anywhere in
 * the file, as the SDKs refuse the whole file) or out of memory.
 */
int aws_ini_profile(const char *text, size_t len, const char *profile,
		    int config_style, struct aws_profile *out);

/* Wipe and free every member and reset them to NULL.  NULL-safe. */
void aws_profile_free(struct aws_profile *p);

/* Temporary credentials from STS.  Owned heap strings; aws_temp_creds_free. */
struct aws_temp_creds {
	char *access_key_id;
	char *secret_access_key;	/* secret */
	char *session_token;		/* secret */
	time_t expiration;		/* UTC */
};

/*
 * Parse an AssumeRoleResponse (or any response whose credentials sit in a
 * single <Credentials> element with AccessKeyId, SecretAccessKey,
 * SessionToken and Expiration children, such as
 * AssumeRoleWithWebIdentityResponse).  All four are required and must be
 * non-empty.  DTDs are refused.  Returns 0 and fills @out (owned) on
 * success; -1 on anything else, leaving @out all-NULL.  An <ErrorResponse>
 * gives -1: pass it to aws_xml_parse_error().
 */
int aws_sts_parse_assume_role(const char *xml, size_t len,
			      struct aws_temp_creds *out);

/* Wipe and free the strings, reset to NULL/0.  NULL-safe. */
void aws_temp_creds_free(struct aws_temp_creds *c);

/*
 * Recognise an AWS query-protocol error document,
 * <ErrorResponse><Error><Type/><Code/><Message/></Error>...</ErrorResponse>
 * (a bare <Error> root is accepted too).  Copies the unescaped Code and
 * Message into @code/@msg, NUL-terminated and truncated to the capacity
 * without splitting a UTF-8 sequence; either buffer may be NULL with cap 0.
 * A missing Message gives "".  Returns 0 if recognised (Code present and
 * non-empty), -1 otherwise (then the buffers hold "").
 */
int aws_xml_parse_error(const char *xml, size_t len, char *code,
			size_t codecap, char *msg, size_t msgcap);

/*
 * Parse an ISO-8601 UTC timestamp as STS writes it: YYYY-MM-DDTHH:MM:SS,
 * optional fraction, then "Z" or a +HH:MM / -HH:MM offset.  Exposed for
 * tests and for the IMDS/container JSON providers.  Returns 0 and sets
 * *@out, or -1.
 */
int aws_parse_iso8601(const char *s, size_t len, time_t *out);

#endif /* SESGATE_AWS_AWSPARSE_H */
