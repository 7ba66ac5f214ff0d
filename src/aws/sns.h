/*
 * sns.h - Amazon SNS HTTP/S subscription messages: parsing the JSON body
 * SNS POSTs, the string it signs, the checks on the SigningCertURL, and the
 * signature check itself (SignatureVersion 1 = SHA1withRSA, 2 =
 * SHA256withRSA, PKCS#1 v1.5) against the certificate that URL serves.
 *
 * Pure functions: no I/O, no clock, no globals, no logging; any thread.
 * Fetching the certificate (over verified TLS, from a URL that passed
 * sns_cert_url_ok) and caching it is the caller's job, as is the current
 * time.  Everything here treats its input as hostile: the body comes from
 * anyone who can reach the endpoint until sns_verify() said otherwise.
 *
 * Typical use:
 *   sns_parse(body) -> sns_cert_url_ok(m.signing_cert_url) -> fetch cert ->
 *   sns_verify(&m, cert) -> sns_topic_allowed(m.topic_arn) -> act.
 */
#ifndef SESGATE_AWS_SNS_H
#define SESGATE_AWS_SNS_H

#include <stddef.h>
#include <time.h>

/* Caps on what sns_parse accepts (octets, after JSON unescaping).  SNS
 * limits a message to 256 KiB; the body is larger than its Message by the
 * envelope plus JSON escaping (an SES event is JSON inside a JSON string,
 * so every quote in it costs a backslash), hence twice that for the body. */
#define SNS_BODY_MAX      (512 * 1024)
#define SNS_MESSAGE_MAX   (256 * 1024)
#define SNS_ID_MAX        128  /* MessageId */
#define SNS_ARN_MAX       1024 /* TopicArn */
#define SNS_SUBJECT_MAX   1024 /* SNS allows 100 characters */
#define SNS_TIMESTAMP_MAX 64
#define SNS_SIGVER_MAX    8
#define SNS_SIG_MAX       4096 /* base64; RSA-8192 needs 1368 */
#define SNS_URL_MAX       2048 /* SigningCertURL, SubscribeURL, UnsubscribeURL */
#define SNS_TOKEN_MAX     4096
/* The signing certificate PEM sns_verify takes (a few KiB in practice,
 * maybe with intermediates): cap the fetch at this too. */
#define SNS_CERT_PEM_MAX (256 * 1024)

/* The certificate hosts AWS's SDKs accept,
 * ^sns\.[a-zA-Z0-9\-]{3,}\.amazonaws\.com(\.cn)?$, as sns_cert_url_ok
 * patterns: commercial and GovCloud partitions, China, and both. */
#define SNS_CERT_HOST_AWS     "sns.*.amazonaws.com"
#define SNS_CERT_HOST_AWS_CN  "sns.*.amazonaws.com.cn"
#define SNS_CERT_HOST_DEFAULT SNS_CERT_HOST_AWS "," SNS_CERT_HOST_AWS_CN

/* The 12 digits of an AWS account id. */
#define SNS_ACCOUNT_LEN 12

enum sns_type {
	SNS_NOTIFICATION = 1,
	SNS_SUBSCRIPTION_CONFIRMATION,
	SNS_UNSUBSCRIBE_CONFIRMATION,
};

/*
 * One parsed message.  Every member is a NUL-terminated heap string owned
 * by the message (release with sns_msg_free), or NULL when the field is
 * not part of this type of message.  JSON escapes are undone; strings
 * never contain a NUL (the parser refuses \u0000).
 *
 * Which fields are filled, and which the signature covers (S):
 *   all types:       message_id S, topic_arn S, message S, timestamp S,
 *                    signature_version, signature, signing_cert_url
 *   Notification:    subject S (NULL = absent, "" = present and empty),
 *                    unsubscribe_url (optional, NOT signed)
 *   confirmations:   subscribe_url S, token S
 * Fields a type does not sign (a Subject in a confirmation, a Token in a
 * Notification, MessageAttributes, unknown keys) are checked for type but
 * not kept, so nothing unsigned can be mistaken for signed data.
 */
struct sns_msg {
	enum sns_type type;
	char *message_id;
	char *topic_arn;
	char *subject;
	char *message;
	char *timestamp;
	char *signature_version; /* "1" or "2" for sns_verify; kept as sent */
	char *signature;         /* base64 */
	char *signing_cert_url;
	char *subscribe_url;
	char *token;
	char *unsubscribe_url;
};

/*
 * Parse the JSON body SNS POSTs (@len octets, need not be NUL-terminated).
 * Refused: bodies over SNS_BODY_MAX, anything but one JSON object, a key
 * twice (even spelled with escapes), a known key whose value is not a
 * string, fields over their cap, an unknown Type, and a missing or empty
 * required field (Message may be empty).  JSON null counts as absent, as
 * in the SDKs' verifiers.  Lambda's spellings SigningCertUrl and
 * UnsubscribeUrl are accepted for SigningCertURL and UnsubscribeURL (both
 * spellings at once are refused).
 *
 * Returns 0 and fills @out (owned; sns_msg_free).  Returns -1 with @out
 * all-NULL and a short reason in @err (NUL-terminated; @err may be NULL
 * with @errcap 0); the reason names keys but never quotes the body.
 */
int sns_parse(const char *body, size_t len, struct sns_msg *out, char *err, size_t errcap);

/* Free every member and reset them to NULL.  NULL-safe; idempotent. */
void sns_msg_free(struct sns_msg *m);

/* "Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation";
 * "?" for anything else. */
const char *sns_type_name(enum sns_type t);

/*
 * The string SNS signed: "Key\nValue\n" for each key, in this order.
 *   Notification:   Message, MessageId, Subject (only when present),
 *                   Timestamp, TopicArn, Type
 *   confirmations:  Message, MessageId, SubscribeURL, Timestamp, Token,
 *                   TopicArn, Type
 * Returns a heap string (NUL-terminated, the caller frees) and its length
 * in *@len (may be NULL); NULL when a needed field is missing or out of
 * memory.
 */
char *sns_string_to_sign(const struct sns_msg *m, size_t *len);

/*
 * 1 when @url may be fetched as a signing certificate, else 0.  Rules:
 * scheme https (any case), then an authority made only of letters,
 * digits, '.', '-', ':' and '[' ']' (so no userinfo, no '%', no '\'),
 * then a path that starts with '/', is made of [A-Za-z0-9._~/-], has no
 * "." or ".." segment, no "//", and ends in a file name "X.pem"; no query
 * or fragment; at most SNS_URL_MAX octets.
 *
 * The authority (host, or host:port) must match @host_pattern
 * (SNS_CERT_HOST_DEFAULT when NULL): a comma-separated list of
 * alternatives, each compared to the whole authority literally and
 * case-sensitively, except that a label that is exactly "*" matches one
 * DNS label of 3 or more of [A-Za-z0-9-].  A URL with a port thus matches
 * only an alternative that names that port ("127.0.0.1:8443"), and one
 * without a port only an alternative without one.  A "*" anywhere but as
 * a whole label makes that alternative match nothing.
 */
int sns_cert_url_ok(const char *url, const char *host_pattern);

/* Optional certificate checks for sns_verify; a NULL pointer means none. */
struct sns_verify_opts {
	/* Check the certificate is valid at this time; 0 = do not check the
	 * validity period (the genuine test vectors' certificate expired). */
	time_t now;
	/* PEM bundle of trusted CAs the certificate must chain to; NULL = no
	 * chain check (the caller fetched the certificate over verified TLS
	 * from a host sns_cert_url_ok accepted).  Certificates after the first
	 * in the signing certificate's PEM serve as intermediates. */
	const char *ca_pem;
	size_t ca_len;
	/* DNS name the certificate must carry (e.g. "sns.amazonaws.com");
	 * NULL = no name check. */
	const char *cert_host;
};

/*
 * Check @m's Signature with the public key of the certificate @cert_pem
 * (@pemlen octets, at most SNS_CERT_PEM_MAX; the first certificate in it
 * is the signing one).
 * SignatureVersion "1" is SHA1withRSA and "2" SHA256withRSA, both PKCS#1
 * v1.5, over sns_string_to_sign(@m); any other version is refused, as is a
 * non-RSA key or one under 2048 bits, and a Signature that is not strict
 * padded base64.  @opts adds the checks described above.
 *
 * Returns 0 when the signature (and every requested check) holds; -1 with
 * a short reason in @err otherwise.
 */
int sns_verify(const struct sns_msg *m, const char *cert_pem, size_t pemlen,
               const struct sns_verify_opts *opts, char *err, size_t errcap);

/* 1 when @topic_arn equals one of @allowed[0..n) exactly, else 0 (also
 * for NULL or empty input: an empty list allows nothing). */
int sns_topic_allowed(const char *topic_arn, const char *const *allowed, size_t n);

/*
 * The account of an SNS topic ARN, arn:PARTITION:sns:REGION:ACCOUNT:NAME
 * (partition aws or aws-*, region [a-z0-9-]+, account 12 digits, name
 * 1..256 of [A-Za-z0-9_-] with an optional ".fifo").  Copies the 12 digits
 * and a NUL into @account.  Returns 0, or -1 (then @account is "") when
 * @topic_arn is not such an ARN.
 */
int sns_account_of_topic(const char *topic_arn, char account[SNS_ACCOUNT_LEN + 1]);

/* The message's Timestamp as a time_t (UTC), for a caller's replay window.
 * Returns 0, or -1 when absent or not ISO 8601. */
int sns_timestamp(const struct sns_msg *m, time_t *out);

#endif /* SESGATE_AWS_SNS_H */
