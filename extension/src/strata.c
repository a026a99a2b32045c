/*
 * strata.c
 *		Module entry point: GUCs, shared memory for wake-up coalescing,
 *		transaction callbacks, and strata.ack_wakeup().
 *
 * NOTIFY is only a wake-up for the worker.  PostgreSQL serializes the commits
 * of notifying transactions on a lock (held from pre-commit through the WAL
 * flush), so with the library in shared_preload_libraries a transaction that
 * wrote the outbox sends NOTIFY only when no wake-up is pending or the pending
 * one is older than strata.wakeup_coalesce_ms.  The worker calls
 * strata.ack_wakeup() before each drain: it returns the number of
 * outbox-writing transactions in flight and clears the pending flag only when
 * that number is 0; otherwise the worker drains again shortly, which picks up
 * the writers that skipped their NOTIFY.  So under load, while the worker
 * keeps draining, writers send no NOTIFY at all.  Without preloading, every
 * outbox-writing transaction sends NOTIFY.
 */
#include "strata.h"

#include "access/transam.h"
#include "access/xact.h"
#include "commands/async.h"
#include "miscadmin.h"
#include "port/atomics.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "storage/shmem.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/timestamp.h"
#include "utils/xid8.h"

PG_MODULE_MAGIC;

PG_FUNCTION_INFO_V1(strata_ack_wakeup);
PG_FUNCTION_INFO_V1(strata_next_xid);

void		_PG_init(void);

typedef struct StrataShared
{
	/* GetCurrentTimestamp() of the last NOTIFY not yet acknowledged; 0: none */
	pg_atomic_uint64 pending_since;
	/* transactions that wrote the outbox and have not committed or aborted */
	pg_atomic_uint32 inflight;
} StrataShared;

int			strata_wakeup_coalesce_ms = 50;

static StrataShared *shared = NULL;
static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

/* Per-backend transaction state. */
static bool xact_wrote_outbox = false;	/* send a wake-up at commit */
static bool xact_counted = false;	/* we incremented shared->inflight */
static bool exit_hook_registered = false;

static void
strata_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(StrataShared)));
}

static void
strata_shmem_startup(void)
{
	bool		found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();

	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	shared = ShmemInitStruct("strata", sizeof(StrataShared), &found);
	if (!found)
	{
		pg_atomic_init_u64(&shared->pending_since, 0);
		pg_atomic_init_u32(&shared->inflight, 0);
	}
	LWLockRelease(AddinShmemInitLock);
}

/* Leave the in-flight count exactly once, whatever ends the transaction. */
static void
leave_inflight(void)
{
	if (xact_counted)
	{
		xact_counted = false;
		pg_atomic_fetch_sub_u32(&shared->inflight, 1);
	}
}

static void
strata_shmem_exit(int code, Datum arg)
{
	leave_inflight();
}

/*
 * Called before the first outbox row of a transaction is written (and for
 * every later one; cheap).
 */
void
strata_note_outbox_write(void)
{
	if (xact_wrote_outbox)
		return;
	if (shared != NULL)
	{
		if (!exit_hook_registered)
		{
			before_shmem_exit(strata_shmem_exit, (Datum) 0);
			exit_hook_registered = true;
		}
		pg_atomic_fetch_add_u32(&shared->inflight, 1);
		xact_counted = true;
	}
	xact_wrote_outbox = true;
}

/* Is the notification queue filling up (a listener that does not read)? */
static bool
notify_queue_congested(void)
{
	LOCAL_FCINFO(fcinfo, 0);
	Datum		usage;

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	usage = pg_notification_queue_usage(fcinfo);
	return DatumGetFloat8(usage) > 0.5;
}

/* At pre-commit of a transaction that wrote the outbox. */
static void
send_wakeup(void)
{
	if (shared != NULL && strata_wakeup_coalesce_ms > 0)
	{
		TimestampTz now = GetCurrentTimestamp();
		uint64		pending = pg_atomic_read_u64(&shared->pending_since);

		if (pending != 0 &&
			!TimestampDifferenceExceeds((TimestampTz) pending, now,
										strata_wakeup_coalesce_ms))
			return;				/* a recent wake-up is still pending */
		if (!pg_atomic_compare_exchange_u64(&shared->pending_since, &pending,
											(uint64) now))
			return;				/* another writer sends it, or the worker just
								 * acknowledged and counts us in flight */
	}
	else if (shared != NULL)
		pg_atomic_write_u64(&shared->pending_since, (uint64) GetCurrentTimestamp());

	/*
	 * A full queue would make our commit fail; the outbox is the truth and
	 * the worker polls, so skip the wake-up rather than fail the write.
	 */
	if (notify_queue_congested())
		return;
	Async_Notify(STRATA_WAKEUP_CHANNEL, "");
}

static void
strata_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (xact_wrote_outbox)
				send_wakeup();

			/*
			 * The trigger's per-transaction state is emptied here, while its
			 * memory is still in the CPU's cache (the commit's WAL flush that
			 * follows usually sleeps); again at the end, for anything a later
			 * pre-commit callback still captured.
			 */
			strata_capture_xact_end();
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* COMMIT runs after the transaction became visible */
			leave_inflight();
			xact_wrote_outbox = false;
			strata_capture_xact_end();
			break;
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			/* no NOTIFY: PREPARE TRANSACTION refuses transactions that sent one */
			break;
	}
}

static void
strata_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		strata_capture_subxact_abort(mySubid);
}

static void
strata_relcache_callback(Datum arg, Oid relid)
{
	strata_rules_relcache_callback(relid);
	strata_outbox_relcache_callback(relid);
}

void
_PG_init(void)
{
	DefineCustomIntVariable("strata.wakeup_coalesce_ms",
							"Skips a wake-up NOTIFY while one sent less than this many milliseconds ago is pending.",
							"Needs the library in shared_preload_libraries; 0 sends one per outbox-writing transaction.",
							&strata_wakeup_coalesce_ms,
							50, 0, 3600000,
							PGC_SUSET,
							GUC_UNIT_MS,
							NULL, NULL, NULL);
	MarkGUCPrefixReserved("strata");

	if (process_shared_preload_libraries_in_progress)
	{
		prev_shmem_request_hook = shmem_request_hook;
		shmem_request_hook = strata_shmem_request;
		prev_shmem_startup_hook = shmem_startup_hook;
		shmem_startup_hook = strata_shmem_startup;
	}

	RegisterXactCallback(strata_xact_callback, NULL);
	RegisterSubXactCallback(strata_subxact_callback, NULL);
	CacheRegisterRelcacheCallback(strata_relcache_callback, (Datum) 0);
}

/*
 * strata.ack_wakeup() returns bigint
 *
 * For the worker, before each drain: acknowledges the pending wake-up and
 * returns the number of outbox-writing transactions in flight; NULL when the
 * library is not preloaded.
 *
 * When none is in flight the pending flag is cleared, so the next committing
 * writer sends NOTIFY (the worker may go to sleep after this drain).  When
 * some are in flight the worker promises to ack and drain again shortly; the
 * flag is then set anew, so that writers committing meanwhile skip their
 * NOTIFY: the worker's next rounds see them, counted in flight or committed.
 * (Clearing first and reading the count second leaves no window in which a
 * writer could skip its NOTIFY without being counted.)
 */
Datum
strata_ack_wakeup(PG_FUNCTION_ARGS)
{
	uint32		inflight;

	if (shared == NULL)
		PG_RETURN_NULL();
	pg_atomic_exchange_u64(&shared->pending_since, 0);
	inflight = pg_atomic_read_u32(&shared->inflight);
	if (inflight > 0)
	{
		uint64		expected = 0;

		pg_atomic_compare_exchange_u64(&shared->pending_since, &expected,
									   (uint64) GetCurrentTimestamp());
	}
	PG_RETURN_INT64((int64) inflight);
}

/*
 * strata.next_xid() returns xid8
 *
 * The next transaction id to be assigned: every transaction that has an id
 * now has a smaller one.  An outbox reader that finds a seq missing uses it
 * as the bound of the transactions that may still commit it: once a later
 * snapshot's xmin reaches it, they have all ended.  A snapshot's xmax is no
 * such bound: it is the latest completed id + 1, and transactions with ids at
 * or above it may be running (a snapshot treats them as running without
 * listing them, and its xmin ignores them).
 */
Datum
strata_next_xid(PG_FUNCTION_ARGS)
{
	PG_RETURN_FULLTRANSACTIONID(ReadNextFullTransactionId());
}
