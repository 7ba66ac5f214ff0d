/*
 * awstypes.h - small value types shared by the AWS request builders
 * (orgs.c, iam.c, ses_admin.c).  Header only; nothing here owns memory.
 */
#ifndef SESGATE_AWS_AWSTYPES_H
#define SESGATE_AWS_AWSTYPES_H

/* Tag limits common to Organizations, IAM and SES v2: at most 50 tags per
 * resource, keys 1..128 characters, values 0..256 characters. */
#define AWS_TAGS_MAX      50
#define AWS_TAG_KEY_MAX   128
#define AWS_TAG_VALUE_MAX 256

/* One resource tag.  Both strings are borrowed, NUL-terminated UTF-8; a
 * value may be "" (all three services allow it) but not NULL. */
struct aws_tag {
	const char *key, *value;
};

#endif /* SESGATE_AWS_AWSTYPES_H */
