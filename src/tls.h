/*
 * tls.h - server-side TLS contexts for the SMTP listeners (STARTTLS and
 * smtps) and the HTTP listener.
 *
 * The SMTP context is swapped whole on reload (SIGHUP): sessions that
 * already hold an SSL keep the context they started with (OpenSSL counts
 * the references), new ones get the new certificate.  No session is
 * dropped by a reload, and a reload that fails keeps the old context.
 */
#ifndef SESGATE_TLS_H
#define SESGATE_TLS_H

#include <stddef.h>

#include <openssl/ssl.h>

struct config;

/*
 * A server context from CERT/KEY with the protocol floor and ciphers of CFG.
 * Refuses a key file readable by every user.  NULL with ERR filled.
 */
SSL_CTX *tls_ctx_new(const struct config *cfg, const char *cert, const char *key, char *err,
		     size_t errlen);

/* Load the SMTP context (no-op without tls_cert).  0 or -1 with ERR. */
int tls_smtp_init(const struct config *cfg, char *err, size_t errlen);
/* Re-read tls_cert/tls_key; on failure the old context stays.  0 or -1. */
int tls_smtp_reload(const struct config *cfg, char *err, size_t errlen);
/* Is STARTTLS available? */
int tls_smtp_enabled(void);
/* A new server SSL on the current context, or NULL.  Any thread. */
SSL *tls_smtp_ssl_new(void);
void tls_smtp_fini(void);

#endif
