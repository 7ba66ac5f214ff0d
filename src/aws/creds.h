/*
 * The gateway's own AWS identity: the standard AWS credential chain, in the
 * SDKs' order, behind a thread-safe snapshot kept fresh by one refresher
 * thread.
 *
 *   1. environment: AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY
 *      (+ AWS_SESSION_TOKEN)
 *   2. profile AWS_PROFILE (default "default") in the shared credentials
 *      file (AWS_SHARED_CREDENTIALS_FILE, ~/.aws/credentials) and config
 *      file (AWS_CONFIG_FILE, ~/.aws/config): static keys, role_arn +
 *      source_profile (STS AssumeRole signed with the source profile's
 *      credentials, chains allowed), role_arn + web_identity_token_file
 *   3. web identity: AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN
 *      (+ AWS_ROLE_SESSION_NAME) -> STS AssumeRoleWithWebIdentity
 *   4. container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI,
 *      with AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE / _TOKEN
 *   5. EC2 instance metadata, IMDSv2 only, unless
 *      AWS_EC2_METADATA_DISABLED=true
 * The first source that is configured decides: if it fails, that failure is
 * the answer (as in the SDKs); only an unreachable IMDS means "none found".
 *
 * For tests only, SESGATE_TEST_CONTAINER_ENDPOINT replaces the
 * http://169.254.170.2 base of AWS_CONTAINER_CREDENTIALS_RELATIVE_URI.
 *
 * Secrets (secret keys, session tokens, web identity and container tokens)
 * never appear in logs, in error texts or in aws_identity_status().
 */
#ifndef SESGATE_AWS_CREDS_H
#define SESGATE_AWS_CREDS_H

#include <stddef.h>
#include <time.h>

/* Credentials are refreshed when they have less than this left (seconds). */
#define AWS_CREDS_REFRESH_WINDOW 600
/* Backoff between failed resolutions: 1 s doubling up to this (seconds). */
#define AWS_CREDS_BACKOFF_MAX 300

/*
 * Region and endpoints, read once at start from the environment (and the
 * shared config file for the region).  Endpoints have no trailing slash.
 */
struct aws_env {
	char region[64];        /* override, AWS_REGION, AWS_DEFAULT_REGION, profile region */
	char ses_endpoint[512]; /* AWS_ENDPOINT_URL_SESV2, _SES, AWS_ENDPOINT_URL, else
	                         * https://email.REGION.amazonaws.com */
	char sts_endpoint[512]; /* AWS_ENDPOINT_URL_STS, AWS_ENDPOINT_URL, else
	                         * https://sts.REGION.amazonaws.com */
	char ca_bundle[1024];   /* AWS_CA_BUNDLE, or "" for the system store */
};

/*
 * Fill @e.  @region_override (NULL or "" = none) wins over the environment.
 * Endpoints must be https://, or http:// to a loopback host (local test
 * doubles).  A region is required (it is part of every signature).
 * Reads the environment: call before other threads exist.
 * Returns 0, or -1 with a message in @err.
 */
int aws_env_load(struct aws_env *e, const char *region_override, char *err, size_t errlen);

/*
 * A snapshot of credentials.  The strings are heap copies owned by the
 * struct (session_token may be NULL); aws_creds_free() wipes them first.
 */
struct aws_creds {
	char *access_key_id;
	char *secret_access_key; /* secret */
	char *session_token;     /* secret; NULL for long-term keys */
	time_t expiration;       /* UTC; 0 = never */
	char source[32];         /* "env", "shared-credentials", "shared-config",
	                          * "web-identity", "container", "imds",
	                          * "assume-role(profile)" */
};

/* Wipe and free the strings and zero @c.  NULL-safe, idempotent. */
void aws_creds_free(struct aws_creds *c);
/* Deep copy; @dst is overwritten.  0, or -1 (out of memory, @dst zeroed). */
int aws_creds_copy(struct aws_creds *dst, const struct aws_creds *src);

/* ---- pure helpers (exposed for the unit tests) ---- */

/* 1 if credentials expiring at @expiration should be replaced at @now. */
int aws_creds_needs_refresh(time_t expiration, time_t now);
/*
 * When to replace credentials obtained at @obtained: AWS_CREDS_REFRESH_WINDOW
 * before they expire, or halfway through their life if that is shorter
 * than two windows (never sooner than 1 s after @obtained, so a source that
 * keeps handing out nearly expired credentials cannot make us spin).
 * 0 when they never expire.
 */
time_t aws_creds_refresh_at(time_t expiration, time_t obtained);
/* Seconds to wait after the @failures-th consecutive failure (>= 1). */
unsigned aws_creds_backoff(unsigned failures);
/*
 * Parse the JSON that the container credentials endpoint and IMDS answer:
 * {"AccessKeyId","SecretAccessKey","Token","Expiration"} (all four required,
 * strings; Expiration ISO-8601) plus optional "Code" that must be
 * "Success".  Other members are ignored.  Fills @out (source left "") and
 * returns 0, or returns -1 with @out zeroed and a message in @err that
 * never quotes the input.
 */
int aws_creds_parse_json(const char *json, size_t len, struct aws_creds *out, char *err,
                         size_t errlen);
/*
 * May container credentials be fetched from @url?  As the SDKs: any https
 * URL; http only to loopback hosts or the ECS/EKS agent addresses
 * 169.254.170.2, 169.254.170.23 and fd00:ec2::23.  1 yes, 0 no.
 */
int aws_container_url_allowed(const char *url);

/* ---- the process's identity ---- */

struct aws_identity;

enum aws_identity_start {
	AWS_IDENTITY_FAILED = -1, /* the refresher could not be started */
	AWS_IDENTITY_READY = 0,   /* credentials are available */
	AWS_IDENTITY_PENDING = 1, /* first resolution failed (see status); the
	                           * refresher keeps retrying with backoff */
};

/*
 * A provider for @env (copied).  Snapshots the credential-chain environment
 * variables, so call it before other threads exist.  NULL on ENOMEM.
 */
struct aws_identity *aws_identity_new(const struct aws_env *env);
/*
 * Resolve once on the calling thread (blocking; every request has short
 * connect and total timeouts) and start the refresher thread.  Call once.
 * Calls curl_global_init() (reference-counted; undone by _free()).
 */
int aws_identity_start(struct aws_identity *id);
/*
 * Copy the current credentials into @out (the caller frees them with
 * aws_creds_free).  Never does I/O.  0, or -1 when there are none (not yet,
 * expired and not replaced, or out of memory).
 */
int aws_identity_get(struct aws_identity *id, struct aws_creds *out);
/* 1 when aws_identity_get() would succeed, without copying any secret. */
int aws_identity_ready(struct aws_identity *id);
/*
 * AWS refused @access_key_id (ExpiredToken, InvalidClientTokenId): ask the
 * refresher to resolve again now.  Ignored if the current credentials have
 * another access key id (someone already caused a refresh); NULL means
 * "whatever is current".  Repeated calls coalesce; the chain is walked at
 * most once a second, and not at all while failures are backing off.
 */
void aws_identity_invalidate(struct aws_identity *id, const char *access_key_id);
/*
 * For status pages and logs: the source, the access key id shortened to
 * its first and last 4 characters, the expiration (0 = never or none) and
 * the last resolution error ("" after a success).  Any buffer may be NULL
 * with size 0.  Never returns secrets.
 */
void aws_identity_status(struct aws_identity *id, char *source, size_t sourcelen, char *akid_prefix,
                         size_t akidlen, time_t *expiration, char *last_error, size_t errlen);
/* Stop and join the refresher (aborting a transfer in progress), wipe, free.  NULL-safe. */
void aws_identity_free(struct aws_identity *id);

#endif /* SESGATE_AWS_CREDS_H */
