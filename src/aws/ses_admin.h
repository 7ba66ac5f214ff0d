/*
 * ses_admin.h - SES v2 (REST-JSON) administration calls the provisioning
 * thread makes in a tenant's member account: configuration set, its SNS
 * event destination, domain identities with Easy DKIM, the production
 * access request; and the DNS records a tenant must publish.
 *
 * Pure functions: no I/O, no clock, no globals, no logging; any thread.
 * Builders return a heap string (compact JSON) the caller frees, or NULL
 * for invalid input or out of memory.  Paths and methods:
 *   CreateConfigurationSet   POST /v2/email/configuration-sets
 *   CreateConfigurationSetEventDestination
 *        POST /v2/email/configuration-sets/{name}/event-destinations
 *   CreateEmailIdentity      POST /v2/email/identities
 *   GetEmailIdentity         GET  /v2/email/identities/{domain}
 *   PutAccountDetails        POST /v2/email/account/details
 * with {name} and {domain} made by ses_path_segment().
 */
#ifndef SESGATE_AWS_SES_ADMIN_H
#define SESGATE_AWS_SES_ADMIN_H

#include <stddef.h>

#include "aws/awsjson.h" /* errors and retry classes of these answers; struct aws_tag */

#define SES_NAME_MAX         64 /* configuration set / event destination names */
#define SES_DOMAIN_MAX       253
#define SES_DKIM_TOKENS      3
#define SES_EXTRA_EMAILS_MAX 4
#define SES_WEBSITE_URL_MAX  1000
#define SES_USE_CASE_MAX     5000

/* 1 for a configuration set or event destination name: 1..64 of [A-Za-z0-9_-]. */
int ses_name_valid(const char *name);

/*
 * 1 for a domain SES can verify and we can write into a zone file: 2 or
 * more dot-separated labels of 1..63 [A-Za-z0-9-], no label starting or
 * ending with '-', at most 253 octets, no trailing dot, a last label that
 * is not all digits.  IDNs must come as A-labels (xn--...).
 */
int ses_domain_valid(const char *domain);

/* CreateConfigurationSet: {"ConfigurationSetName"[,"Tags"]}. */
char *ses_create_configuration_set_body(const char *name, const struct aws_tag *tags, size_t ntags);

/*
 * CreateConfigurationSetEventDestination:
 *   {"EventDestinationName":N,"EventDestination":{"Enabled":true,
 *    "MatchingEventTypes":[every type],"SnsDestination":{"TopicArn":ARN}}}
 * @topic_arn must be arn:PARTITION:sns:REGION:ACCOUNT:TOPIC (standard
 * topic: SES cannot publish to FIFO ones).
 */
char *ses_create_event_destination_body(const char *dest_name, const char *topic_arn);

/* CreateEmailIdentity: {"EmailIdentity":DOMAIN[,"ConfigurationSetName"][,"Tags"]};
 * @config_set NULL or "" = none.  Easy DKIM is SES's default. */
char *ses_create_email_identity_body(const char *domain, const char *config_set,
                                     const struct aws_tag *tags, size_t ntags);

/*
 * PutAccountDetails (the production access request):
 *   {"MailType","WebsiteURL"[,"ContactLanguage"][,"UseCaseDescription"]
 *    [,"AdditionalContactEmailAddresses"],"ProductionAccessEnabled"}
 * @mail_type TRANSACTIONAL or MARKETING; @website_url an http(s) URL of
 * 1..1000 printable ASCII; @use_case NULL or "" = omit (the field is
 * deprecated), else 1..5000 characters; @contact_language NULL or "" =
 * omit, else EN or JA; @extra_emails 0..4 addresses; @production_access
 * non-zero asks for production access.
 */
char *ses_put_account_details_body(const char *mail_type, const char *website_url,
                                   const char *use_case, const char *contact_language,
                                   const char *const *extra_emails, size_t nextra,
                                   int production_access);

/*
 * Percent-encode @in as one URI path segment: A-Z a-z 0-9 - . _ ~ stay,
 * every other octet becomes %XX (so '/' can never add a segment).  "" ,
 * "." and ".." are refused: they would name no resource or walk up the
 * path.  Returns 0, or -1 (@out = "" when @cap > 0) when refused or when
 * the result does not fit in @cap with its NUL.
 */
int ses_path_segment(const char *in, char *out, size_t cap);

/*
 * What CreateEmailIdentity and GetEmailIdentity say about a domain.
 * @verified_for_sending is 0 or 1; statuses are "" when absent (the
 * CreateEmailIdentity answer has no VerificationStatus); @dkim_tokens are
 * [A-Za-z0-9]{1,63}; @dkim_zone is DkimAttributes.SigningHostedZone (the
 * CNAME target domain, e.g. dkim.amazonses.com) or "".
 */
struct ses_identity {
	int verified_for_sending;
	char verification_status[32], dkim_status[32];
	char dkim_tokens[SES_DKIM_TOKENS][64];
	int ntokens;
	char dkim_zone[64];
};

/*
 * Parse either answer.  VerifiedForSendingStatus must be a boolean; the
 * other members are optional but must have their types when present;
 * more than 3 DKIM tokens, or a token or hosted zone that could not be
 * written into a zone file, is an error.  Returns 0, or -1 (@out zeroed).
 */
int ses_parse_identity(const char *body, size_t len, struct ses_identity *out);

/*
 * The zone-file lines a tenant publishes for @domain, written into @out
 * (@cap octets, NUL-terminated), each ending in '\n':
 *   ; comment
 *   TOKEN._domainkey.DOMAIN. CNAME TOKEN.DKIMZONE.   (one per token: required)
 *   DOMAIN. TXT "v=spf1 include:amazonses.com ~all"            (suggestion)
 *   _dmarc.DOMAIN. TXT "v=DMARC1; p=none; rua=mailto:dmarc@DOMAIN" (suggestion)
 * DKIMZONE is @id->dkim_zone when set, else the Easy DKIM domain of
 * @region (dkim.amazonses.com, or dkim.REGION.amazonses.com in the regions
 * AWS lists as having their own; NULL region = the default).  Returns 0,
 * or -1 (@out = "") when the domain or a token is invalid, there is no
 * token, or it does not fit.
 */
int dns_records_for(const char *domain, const struct ses_identity *id, const char *region,
                    char *out, size_t cap);

#endif /* SESGATE_AWS_SES_ADMIN_H */
