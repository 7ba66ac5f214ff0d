/*
 * smtp_fsm.c - which command may run in which session state (RFC 5321 4.1.4
 * ordering, RFC 3030 chunking, RFC 4954 AUTH).  Pure and table-driven so the
 * whole matrix is unit-tested; the session asks before every command and
 * never re-implements these rules.
 */
#include "smtp_fsm.h"

static const char *const state_names[SMTP_ST__COUNT] = {
	[SMTP_ST_INIT] = "init",     [SMTP_ST_READY] = "ready",
	[SMTP_ST_MAIL] = "mail",     [SMTP_ST_RCPT] = "rcpt",
	[SMTP_ST_DATA] = "data",     [SMTP_ST_BDAT] = "bdat",
	[SMTP_ST_CHUNKING] = "chunking", [SMTP_ST_AUTH] = "auth",
	[SMTP_ST_WAIT] = "wait",     [SMTP_ST_CLOSING] = "closing",
};

const char *smtp_state_name(enum smtp_state st)
{
	return st < SMTP_ST__COUNT ? state_names[st] : "?";
}

/* Commands that are harmless anywhere commands are read. */
static int always_allowed(enum smtp_cmd cmd)
{
	return cmd == SMTP_CMD_NOOP || cmd == SMTP_CMD_QUIT || cmd == SMTP_CMD_RSET;
}

enum smtp_fsm_verdict smtp_fsm_check(enum smtp_state st, unsigned flags, enum smtp_cmd cmd)
{
	switch (st) {
	case SMTP_ST_INIT:
	case SMTP_ST_READY:
	case SMTP_ST_MAIL:
	case SMTP_ST_RCPT:
	case SMTP_ST_CHUNKING:
		break;
	default:
		return SMTP_FSM_NOT_NOW;
	}
	if (cmd == SMTP_CMD_UNKNOWN || cmd >= SMTP_CMD__COUNT)
		return SMTP_FSM_UNKNOWN;
	if (always_allowed(cmd))
		return SMTP_FSM_OK;
	if (st == SMTP_ST_CHUNKING)
		/* RFC 3030 2: once BDAT started, only BDAT continues the transaction */
		return cmd == SMTP_CMD_BDAT ? SMTP_FSM_OK : SMTP_FSM_IN_CHUNKING;

	switch (cmd) {
	case SMTP_CMD_EHLO:
	case SMTP_CMD_HELO:
	case SMTP_CMD_HELP:
	case SMTP_CMD_VRFY:
		return SMTP_FSM_OK;
	case SMTP_CMD_EXPN:
		return SMTP_FSM_NOT_IMPL;
	case SMTP_CMD_STARTTLS:
		/* RFC 3207 4: after EHLO, outside a transaction, once. */
		if (flags & SMTP_FL_TLS)
			return SMTP_FSM_TLS_ACTIVE;
		if (!(flags & SMTP_FL_TLS_AVAIL))
			return SMTP_FSM_NOT_IMPL;
		if (st == SMTP_ST_INIT)
			return SMTP_FSM_NEED_HELO;
		if (st != SMTP_ST_READY)
			return SMTP_FSM_TLS_IN_TX;
		return SMTP_FSM_OK;
	case SMTP_CMD_AUTH:
		if (st == SMTP_ST_INIT)
			return SMTP_FSM_NEED_HELO;
		if (!(flags & SMTP_FL_EHLO))
			return SMTP_FSM_NEED_EHLO;
		if (flags & SMTP_FL_AUTHED)
			return SMTP_FSM_ALREADY_AUTHED;
		if (st != SMTP_ST_READY)
			return SMTP_FSM_AUTH_IN_TX;
		return SMTP_FSM_OK;
	case SMTP_CMD_MAIL:
		if (st == SMTP_ST_INIT)
			return SMTP_FSM_NEED_HELO;
		if (st != SMTP_ST_READY)
			return SMTP_FSM_NESTED_MAIL;
		if (!(flags & SMTP_FL_AUTHED))
			return SMTP_FSM_NEED_AUTH;
		return SMTP_FSM_OK;
	case SMTP_CMD_RCPT:
		if (st == SMTP_ST_INIT)
			return SMTP_FSM_NEED_HELO;
		if (st != SMTP_ST_MAIL && st != SMTP_ST_RCPT)
			return SMTP_FSM_NEED_MAIL;
		return SMTP_FSM_OK;
	case SMTP_CMD_DATA:
	case SMTP_CMD_BDAT:
		if (st == SMTP_ST_INIT)
			return SMTP_FSM_NEED_HELO;
		if (st == SMTP_ST_MAIL)
			return SMTP_FSM_NO_RCPT;
		if (st != SMTP_ST_RCPT)
			return SMTP_FSM_NEED_MAIL;
		return SMTP_FSM_OK;
	default:
		return SMTP_FSM_UNKNOWN;
	}
}

const char *smtp_fsm_reply(enum smtp_fsm_verdict v)
{
	switch (v) {
	case SMTP_FSM_OK:
		return "250 2.0.0 Ok";
	case SMTP_FSM_NEED_HELO:
		return "503 5.5.1 Error: send EHLO or HELO first";
	case SMTP_FSM_NEED_EHLO:
		return "503 5.5.1 Error: AUTH requires EHLO";
	case SMTP_FSM_NEED_AUTH:
		return "530 5.7.0 Authentication required";
	case SMTP_FSM_ALREADY_AUTHED:
		return "503 5.5.1 Error: already authenticated";
	case SMTP_FSM_NESTED_MAIL:
		return "503 5.5.1 Error: nested MAIL command";
	case SMTP_FSM_NEED_MAIL:
		return "503 5.5.1 Error: need MAIL command";
	case SMTP_FSM_NO_RCPT:
		return "554 5.5.1 Error: no valid recipients";
	case SMTP_FSM_IN_CHUNKING:
		return "503 5.5.1 Error: only BDAT, RSET, NOOP or QUIT may follow BDAT";
	case SMTP_FSM_AUTH_IN_TX:
		return "503 5.5.1 Error: AUTH not allowed during a mail transaction";
	case SMTP_FSM_NOT_IMPL:
		return "502 5.5.1 Error: command not implemented";
	case SMTP_FSM_TLS_ACTIVE:
		return "503 5.5.1 Error: TLS already active";
	case SMTP_FSM_TLS_IN_TX:
		return "503 5.5.1 Error: STARTTLS not allowed during a mail transaction";
	case SMTP_FSM_UNKNOWN:
		return "500 5.5.2 Error: command not recognized";
	case SMTP_FSM_NOT_NOW:
		break;
	}
	return "451 4.3.0 Error: internal state error";
}
