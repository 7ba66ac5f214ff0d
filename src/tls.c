/*
 * tls.c - see tls.h.  The current SMTP context is read by every SMTP thread
 * at each handshake and replaced by the main thread on SIGHUP; a mutex
 * guards the pointer for the instant of SSL_new(), which takes its own
 * reference to the context.
 */
#include "tls.h"
#include "config.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/err.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *smtp_ctx;
/* Asked for every SMTP command: an atomic, not the mutex. */
static _Atomic int smtp_on;

static void ssl_error(const char *what, const char *path, char *err, size_t errlen)
{
	char buf[256] = "";
	unsigned long e = ERR_peek_last_error();
	if (e)
		ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	snprintf(err, errlen, "%s %s: %s", what, path, buf[0] ? buf : "failed");
}

SSL_CTX *tls_ctx_new(const struct config *cfg, const char *cert, const char *key, char *err,
		     size_t errlen)
{
	struct stat st;
	if (stat(key, &st) < 0) {
		snprintf(err, errlen, "TLS key %s: %s", key, strerror(errno));
		return NULL;
	}
	if (st.st_mode & S_IROTH) {
		snprintf(err, errlen, "TLS key %s is readable by every user (chmod o-r %s)", key,
			 key);
		return NULL;
	}
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx) {
		snprintf(err, errlen, "TLS: out of memory");
		return NULL;
	}
	/* No renegotiation (a CPU-exhaustion lever), no compression (CRIME),
	 * the server's cipher order, and no session tickets keyed forever by
	 * one process: sessions resume only through the server-side cache. */
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION |
					 SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_min_proto_version(ctx, cfg->tls_min_protocol) != 1 ||
	    SSL_CTX_set_cipher_list(ctx, cfg->tls_ciphers) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, cfg->tls_ciphersuites) != 1) {
		ssl_error("TLS settings", "", err, errlen);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		ssl_error("TLS certificate", cert, err, errlen);
		SSL_CTX_free(ctx);
		return NULL;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_error("TLS key", key, err, errlen);
		SSL_CTX_free(ctx);
		return NULL;
	}
	SSL_CTX_set_session_id_context(ctx, (const unsigned char *)"sesgate", 7);
	return ctx;
}

int tls_smtp_init(const struct config *cfg, char *err, size_t errlen)
{
	if (!cfg->tls_cert[0])
		return 0;
	SSL_CTX *ctx = tls_ctx_new(cfg, cfg->tls_cert, cfg->tls_key, err, errlen);
	if (!ctx)
		return -1;
	pthread_mutex_lock(&lock);
	SSL_CTX *old = smtp_ctx;
	smtp_ctx = ctx;
	pthread_mutex_unlock(&lock);
	atomic_store(&smtp_on, 1);
	SSL_CTX_free(old);
	return 0;
}

int tls_smtp_reload(const struct config *cfg, char *err, size_t errlen)
{
	return tls_smtp_init(cfg, err, errlen);
}

int tls_smtp_enabled(void)
{
	return atomic_load(&smtp_on);
}

SSL *tls_smtp_ssl_new(void)
{
	pthread_mutex_lock(&lock);
	SSL *ssl = smtp_ctx ? SSL_new(smtp_ctx) : NULL;
	pthread_mutex_unlock(&lock);
	return ssl;
}

void tls_smtp_fini(void)
{
	pthread_mutex_lock(&lock);
	SSL_CTX *old = smtp_ctx;
	smtp_ctx = NULL;
	atomic_store(&smtp_on, 0);
	pthread_mutex_unlock(&lock);
	SSL_CTX_free(old);
}
