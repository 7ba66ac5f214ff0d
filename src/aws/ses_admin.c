/*
 * ses_admin.c - SES v2 administration bodies, the email identity answer,
 * and the DNS records of a domain identity.
 *
 * Pure: no I/O, no clock, no globals, no logging; any thread may call it.
 * Domains and DKIM tokens end up in zone-file text that an operator pastes
 * into DNS, so both are held to strict hostname syntax on the way in and
 * again on the way out: a quote, space or newline there would let a
 * tenant's input add records of its own.
 */
#include "aws/ses_admin.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "aws/awsjson.h"

/* ------------------------------------------------------------------ */
/* Shapes                                                              */

static int is_alnum(int c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

int ses_name_valid(const char *name)
{
	size_t n = 0;

	if (!name)
		return 0;
	for (; name[n]; n++)
		if (!is_alnum((unsigned char)name[n]) && name[n] != '_' && name[n] != '-')
			return 0;
	return n >= 1 && n <= SES_NAME_MAX;
}

/* LDH hostname of at least two labels, at most @max octets. */
static int hostname_ok(const char *d, size_t max)
{
	size_t n, label = 0, labels = 0, last = 0;
	int digits_only = 1;

	if (!d || (n = strlen(d)) == 0 || n > max)
		return 0;
	for (size_t i = 0; i <= n; i++) {
		char c = d[i];

		if (c == '.' || c == '\0') {
			if (label == 0 || label > 63 || d[i - 1] == '-')
				return 0;
			labels++;
			last = i - label;
			label = 0;
			continue;
		}
		if (!is_alnum((unsigned char)c) && c != '-')
			return 0;
		if (label == 0 && c == '-')
			return 0;
		label++;
	}
	for (size_t i = last; i < n; i++)
		if (!(d[i] >= '0' && d[i] <= '9'))
			digits_only = 0;
	return labels >= 2 && !digits_only;
}

int ses_domain_valid(const char *domain)
{
	return hostname_ok(domain, SES_DOMAIN_MAX);
}

static int token_ok(const char *t)
{
	size_t n = 0;

	if (!t)
		return 0;
	while (t[n] && is_alnum((unsigned char)t[n]))
		n++;
	return t[n] == '\0' && n >= 1 && n <= 63;
}

/* An address for SES to write to: printable ASCII, no space, one '@'
 * with something on both sides and a dot inside the domain, 6..254. */
static int email_ok(const char *e)
{
	const char *at, *dot;
	size_t n = 0;

	if (!e)
		return 0;
	for (; e[n]; n++)
		if ((unsigned char)e[n] <= 0x20 || (unsigned char)e[n] >= 0x7f)
			return 0;
	if (n < 6 || n > 254)
		return 0;
	at = strchr(e, '@');
	if (!at || at == e || strchr(at + 1, '@'))
		return 0;
	dot = strrchr(at + 1, '.');
	return dot && dot > at + 1 && dot[1] != '\0';
}

static int url_ok(const char *u)
{
	size_t n = 0, scheme;

	if (!u)
		return 0;
	for (; u[n]; n++)
		if ((unsigned char)u[n] <= 0x20 || (unsigned char)u[n] >= 0x7f)
			return 0;
	if (strncasecmp(u, "https://", 8) == 0)
		scheme = 8;
	else if (strncasecmp(u, "http://", 7) == 0)
		scheme = 7;
	else
		return 0;
	return n > scheme && n <= SES_WEBSITE_URL_MAX;
}

/* arn:PARTITION:sns:REGION:ACCOUNT:TOPIC, TOPIC 1..256 of [A-Za-z0-9_-]. */
static int topic_arn_ok(const char *a)
{
	const char *p;
	size_t n;

	if (!a || strncmp(a, "arn:", 4) != 0)
		return 0;
	p = a + 4;
	if (!(*p >= 'a' && *p <= 'z'))
		return 0;
	while ((*p >= 'a' && *p <= 'z') || *p == '-')
		p++;
	if (strncmp(p, ":sns:", 5) != 0)
		return 0;
	p += 5;
	for (n = 0; (p[n] >= 'a' && p[n] <= 'z') || (p[n] >= '0' && p[n] <= '9') || p[n] == '-';)
		n++;
	if (n == 0 || n > 32 || p[n] != ':')
		return 0;
	p += n + 1;
	for (n = 0; n < 12; n++)
		if (!(p[n] >= '0' && p[n] <= '9'))
			return 0;
	if (p[12] != ':')
		return 0;
	p += 13;
	for (n = 0; p[n]; n++)
		if (!is_alnum((unsigned char)p[n]) && p[n] != '_' && p[n] != '-')
			return 0;
	return n >= 1 && n <= 256;
}

/* ------------------------------------------------------------------ */
/* Bodies                                                              */

char *ses_create_configuration_set_body(const char *name, const struct aws_tag *tags, size_t ntags)
{
	json_t *o;
	int bad = 0;

	if (!ses_name_valid(name) || !aws_tags_valid(tags, ntags))
		return NULL;
	o = json_object();
	bad |= aws_json_set_str(o, "ConfigurationSetName", name);
	if (ntags)
		bad |= json_object_set_new(o, "Tags", aws_json_tags(tags, ntags)) < 0;
	return aws_json_finish(o, bad);
}

/* Every SES event type: the gateway tells tenants about all of them, and
 * the SNS endpoint drops what it does not handle. */
static const char *const event_types[] = {
    "SEND",           "REJECT",       "BOUNCE", "COMPLAINT",
    "DELIVERY",       "OPEN",         "CLICK",  "RENDERING_FAILURE",
    "DELIVERY_DELAY", "SUBSCRIPTION",
};

char *ses_create_event_destination_body(const char *dest_name, const char *topic_arn)
{
	json_t *o, *types;

	if (!ses_name_valid(dest_name) || !topic_arn_ok(topic_arn))
		return NULL;
	types = json_array();
	for (size_t i = 0; types && i < sizeof(event_types) / sizeof(event_types[0]); i++)
		if (json_array_append_new(types, json_string(event_types[i])) < 0) {
			json_decref(types);
			types = NULL;
		}
	if (!types)
		return NULL;
	o = json_pack("{s:s,s:{s:b,s:o,s:{s:s}}}", "EventDestinationName", dest_name,
	              "EventDestination", "Enabled", 1, "MatchingEventTypes", types,
	              "SnsDestination", "TopicArn", topic_arn);
	return aws_json_finish(o, 0);
}

char *ses_create_email_identity_body(const char *domain, const char *config_set,
                                     const struct aws_tag *tags, size_t ntags)
{
	int has_cs = config_set && *config_set;
	json_t *o;
	int bad = 0;

	if (!ses_domain_valid(domain) || (has_cs && !ses_name_valid(config_set)) ||
	    !aws_tags_valid(tags, ntags))
		return NULL;
	o = json_object();
	bad |= aws_json_set_str(o, "EmailIdentity", domain);
	if (has_cs)
		bad |= aws_json_set_str(o, "ConfigurationSetName", config_set);
	if (ntags)
		bad |= json_object_set_new(o, "Tags", aws_json_tags(tags, ntags)) < 0;
	return aws_json_finish(o, bad);
}

char *ses_put_account_details_body(const char *mail_type, const char *website_url,
                                   const char *use_case, const char *contact_language,
                                   const char *const *extra_emails, size_t nextra,
                                   int production_access)
{
	int has_use = use_case && *use_case;
	int has_lang = contact_language && *contact_language;
	long uc;
	json_t *o;
	int bad = 0;

	if (!mail_type ||
	    (strcmp(mail_type, "TRANSACTIONAL") != 0 && strcmp(mail_type, "MARKETING") != 0))
		return NULL;
	if (!url_ok(website_url))
		return NULL;
	if (has_use && ((uc = aws_utf8_chars(use_case)) < 1 || uc > SES_USE_CASE_MAX))
		return NULL;
	if (has_lang && strcmp(contact_language, "EN") != 0 && strcmp(contact_language, "JA") != 0)
		return NULL;
	if (nextra > SES_EXTRA_EMAILS_MAX || (nextra && !extra_emails))
		return NULL;
	for (size_t i = 0; i < nextra; i++)
		if (!email_ok(extra_emails[i]))
			return NULL;

	o = json_object();
	bad |= aws_json_set_str(o, "MailType", mail_type);
	bad |= aws_json_set_str(o, "WebsiteURL", website_url);
	if (has_lang)
		bad |= aws_json_set_str(o, "ContactLanguage", contact_language);
	if (has_use)
		bad |= aws_json_set_str(o, "UseCaseDescription", use_case);
	if (nextra) {
		json_t *a = json_array();
		for (size_t i = 0; a && i < nextra; i++)
			bad |= json_array_append_new(a, json_string(extra_emails[i])) < 0;
		bad |= json_object_set_new(o, "AdditionalContactEmailAddresses", a) < 0;
	}
	bad |= json_object_set_new(o, "ProductionAccessEnabled",
	                           json_boolean(production_access != 0)) < 0;
	return aws_json_finish(o, bad);
}

int ses_path_segment(const char *in, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	if (out && cap)
		out[0] = '\0';
	if (!in || !out || !*in || strcmp(in, ".") == 0 || strcmp(in, "..") == 0)
		return -1;
	for (; *in; in++) {
		unsigned char c = (unsigned char)*in;
		int keep = is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';

		if (o + (keep ? 1 : 3) >= cap) {
			out[0] = '\0';
			return -1;
		}
		if (keep) {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
	return 0;
}

/* ------------------------------------------------------------------ */
/* The identity answer                                                 */

static int dkim_from(json_t *d, struct ses_identity *out)
{
	json_t *toks, *t;
	const char *status, *zone;
	size_t i, zn;

	if (!d || json_is_null(d))
		return 0;
	if (!json_is_object(d) || aws_json_opt_str(d, "Status", &status) < 0 ||
	    aws_json_opt_str(d, "SigningHostedZone", &zone) < 0)
		return -1;
	aws_text_copy(out->dkim_status, sizeof(out->dkim_status), status);
	if (zone) {
		/* Tolerate the absolute form "dkim.amazonses.com.". */
		zn = strlen(zone);
		if (zn && zone[zn - 1] == '.')
			zn--;
		if (zn >= sizeof(out->dkim_zone))
			return -1;
		memcpy(out->dkim_zone, zone, zn);
		out->dkim_zone[zn] = '\0';
		if (!hostname_ok(out->dkim_zone, sizeof(out->dkim_zone) - 1))
			return -1;
	}
	toks = json_object_get(d, "Tokens");
	if (!toks || json_is_null(toks))
		return 0;
	if (!json_is_array(toks) || json_array_size(toks) > SES_DKIM_TOKENS)
		return -1;
	json_array_foreach(toks, i, t)
	{
		const char *s = json_string_value(t);
		if (!token_ok(s))
			return -1;
		memcpy(out->dkim_tokens[i], s, strlen(s) + 1);
		out->ntokens++;
	}
	return 0;
}

int ses_parse_identity(const char *body, size_t len, struct ses_identity *out)
{
	json_t *root, *v;
	const char *vs;
	int rc = -1;

	if (!out)
		return -1;
	memset(out, 0, sizeof(*out));
	if (!body)
		return -1;
	root = json_loadb(body, len, 0, NULL);
	v = json_object_get(root, "VerifiedForSendingStatus");
	if (!json_is_boolean(v) || aws_json_opt_str(root, "VerificationStatus", &vs) < 0)
		goto done;
	out->verified_for_sending = json_is_true(v);
	aws_text_copy(out->verification_status, sizeof(out->verification_status), vs);
	if (dkim_from(json_object_get(root, "DkimAttributes"), out) < 0)
		goto done;
	rc = 0;
done:
	json_decref(root);
	if (rc)
		memset(out, 0, sizeof(*out));
	return rc;
}

/* ------------------------------------------------------------------ */
/* DNS records                                                         */

/*
 * Regions whose Easy DKIM records point at dkim.REGION.amazonses.com
 * rather than dkim.amazonses.com (AWS General Reference, "Amazon SES
 * endpoints and quotas", section "Easy DKIM domains").  Only a fallback:
 * the SigningHostedZone of GetEmailIdentity says it for sure, and wins.
 */
static const char *const own_dkim_regions[] = {
    "af-south-1",     "ap-northeast-3", "ap-south-2",    "ap-southeast-3",
    "ap-southeast-5", "ca-west-1",      "eu-central-2",  "eu-south-1",
    "il-central-1",   "me-central-1",   "us-gov-east-1",
};

static int region_ok(const char *r)
{
	size_t n = 0;

	for (; r[n]; n++)
		if (!((r[n] >= 'a' && r[n] <= 'z') || (r[n] >= '0' && r[n] <= '9') || r[n] == '-'))
			return 0;
	return n >= 1 && n <= 32;
}

static int dkim_zone_for(const struct ses_identity *id, const char *region, char *zone, size_t cap)
{
	if (id->dkim_zone[0]) {
		if (!hostname_ok(id->dkim_zone, cap - 1))
			return -1;
		snprintf(zone, cap, "%s", id->dkim_zone);
		return 0;
	}
	snprintf(zone, cap, "dkim.amazonses.com");
	if (!region || !*region)
		return 0;
	if (!region_ok(region))
		return -1;
	for (size_t i = 0; i < sizeof(own_dkim_regions) / sizeof(own_dkim_regions[0]); i++)
		if (strcmp(region, own_dkim_regions[i]) == 0)
			snprintf(zone, cap, "dkim.%s.amazonses.com", region);
	return 0;
}

struct zw {
	char *p;
	size_t cap, n;
	int full;
};

__attribute__((format(printf, 2, 3))) static void zw_printf(struct zw *w, const char *fmt, ...)
{
	va_list ap;
	int k;

	if (w->full)
		return;
	va_start(ap, fmt);
	k = vsnprintf(w->p + w->n, w->cap - w->n, fmt, ap);
	va_end(ap);
	if (k < 0 || (size_t)k >= w->cap - w->n)
		w->full = 1;
	else
		w->n += (size_t)k;
}

int dns_records_for(const char *domain, const struct ses_identity *id, const char *region,
                    char *out, size_t cap)
{
	char zone[80];
	struct zw w = {out, cap, 0, 0};

	if (!out || cap == 0)
		return -1;
	out[0] = '\0';
	if (!ses_domain_valid(domain) || !id || id->ntokens < 1 || id->ntokens > SES_DKIM_TOKENS)
		return -1;
	for (int i = 0; i < id->ntokens; i++)
		if (!token_ok(id->dkim_tokens[i]))
			return -1;
	if (dkim_zone_for(id, region, zone, sizeof(zone)) < 0)
		return -1;

	zw_printf(&w, "; DKIM (required): SES verifies %s and signs its mail with these\n", domain);
	for (int i = 0; i < id->ntokens; i++)
		zw_printf(&w, "%s._domainkey.%s. CNAME %s.%s.\n", id->dkim_tokens[i], domain,
		          id->dkim_tokens[i], zone);
	/* Suggestions, not requirements: with SES's default MAIL FROM the
	 * envelope domain is amazonses.com, so DKIM alone gives DMARC
	 * alignment.  A name may hold only one SPF record. */
	zw_printf(&w, "; SPF (suggestion): merge into an existing v=spf1 record if there is one\n");
	zw_printf(&w, "%s. TXT \"v=spf1 include:amazonses.com ~all\"\n", domain);
	zw_printf(&w,
	          "; DMARC (suggestion): p=none only reports; tighten once reports are clean\n");
	zw_printf(&w, "_dmarc.%s. TXT \"v=DMARC1; p=none; rua=mailto:dmarc@%s\"\n", domain, domain);
	if (w.full) {
		out[0] = '\0';
		return -1;
	}
	return 0;
}
