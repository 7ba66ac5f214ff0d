/*
 * smtp_fsm.h - the SMTP session's states and the pure table that decides,
 * for a state and a command, whether the command may run and, if not, which
 * refusal applies.  smtp_session.c asks here before every command; the unit
 * tests walk the whole table.  No I/O.
 */
#ifndef SESGATE_SMTP_FSM_H
#define SESGATE_SMTP_FSM_H

#include "smtp_parse.h"

enum smtp_state {
	SMTP_ST_INIT = 0,  /* greeting sent, waiting for EHLO/HELO */
	SMTP_ST_READY,     /* greeted, no transaction */
	SMTP_ST_MAIL,      /* MAIL accepted, no recipient yet */
	SMTP_ST_RCPT,      /* at least one recipient accepted */
	SMTP_ST_DATA,      /* reading DATA content up to <CRLF>.<CRLF> */
	SMTP_ST_BDAT,      /* reading the octets of a BDAT chunk */
	SMTP_ST_CHUNKING,  /* between BDAT chunks: only BDAT, RSET, NOOP, QUIT */
	SMTP_ST_AUTH,      /* waiting for an AUTH continuation line */
	SMTP_ST_WAIT,      /* an async step (password check, queue commit) pending */
	SMTP_ST_CLOSING,   /* reply flushed, then the session is freed */
	SMTP_ST__COUNT
};

/* Session flags that the table consults. */
enum {
	SMTP_FL_EHLO = 1 << 0,    /* greeted with EHLO (extensions available) */
	SMTP_FL_AUTHED = 1 << 1,  /* authenticated (or IP-authorized) */
	SMTP_FL_TLS = 1 << 2,     /* TLS active */
	SMTP_FL_TLS_AVAIL = 1 << 3, /* STARTTLS offered (a certificate is loaded) */
};

enum smtp_fsm_verdict {
	SMTP_FSM_OK = 0,
	SMTP_FSM_NEED_HELO,      /* 503 5.5.1 send EHLO/HELO first */
	SMTP_FSM_NEED_EHLO,      /* 503 5.5.1 AUTH needs EHLO */
	SMTP_FSM_NEED_AUTH,      /* 530 5.7.0 authentication required */
	SMTP_FSM_ALREADY_AUTHED, /* 503 5.5.1 already authenticated */
	SMTP_FSM_NESTED_MAIL,    /* 503 5.5.1 MAIL inside a transaction */
	SMTP_FSM_NEED_MAIL,      /* 503 5.5.1 need MAIL before RCPT/DATA */
	SMTP_FSM_NO_RCPT,        /* 554 5.5.1 no valid recipients */
	SMTP_FSM_IN_CHUNKING,    /* 503 5.5.1 only BDAT/RSET/NOOP/QUIT after BDAT */
	SMTP_FSM_AUTH_IN_TX,     /* 503 5.5.1 AUTH not allowed during a transaction */
	SMTP_FSM_NOT_IMPL,       /* 502 5.5.1 recognised but not implemented */
	SMTP_FSM_TLS_ACTIVE,     /* 503 5.5.1 STARTTLS when TLS is already on */
	SMTP_FSM_TLS_IN_TX,      /* 503 5.5.1 STARTTLS inside a transaction */
	SMTP_FSM_UNKNOWN,        /* 500 5.5.2 unknown command */
	SMTP_FSM_NOT_NOW,        /* internal: state does not parse commands */
};

const char *smtp_state_name(enum smtp_state st);

/* May CMD run in ST with FLAGS?  Never OK for states that do not read commands. */
enum smtp_fsm_verdict smtp_fsm_check(enum smtp_state st, unsigned flags, enum smtp_cmd cmd);

/* The reply (code, enhanced code and text) for a refusal verdict. */
const char *smtp_fsm_reply(enum smtp_fsm_verdict v);

#endif
