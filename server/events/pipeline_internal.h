/* Private to the event pipeline: the target registry shared by the writer (pipeline.c) and the
 * workers (worker.c), and the notification plumbing between them. */
#ifndef PZ_EVENT_PIPELINE_INTERNAL_H
#define PZ_EVENT_PIPELINE_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "server/events/commit_clock.h"
#include "server/events/outbox.h"
#include "server/events/pipeline.h"
#include "server/events/targets.h"

/* A dead letter waiting for the writer to store it (malloc'ed, with its record). */
typedef struct pz_dead_item {
    struct pz_dead_item *next;
    uint64_t seq;
    uint32_t attempts;
    int64_t at_ms;
    char reason[PZ_DELIVERY_MAX_REASON];
    uint8_t *record;
    size_t record_len;
} pz_dead_item;

typedef struct pz_worker pz_worker;

/* A registered target. Fields marked (writer) are only touched by the writer thread; the rest
 * are guarded by `lock`. */
typedef struct pz_target_slot {
    uint32_t number;
    char *id;    /* the stored identity */
    char *shown; /* its display form, for stats and logs (pz_target_display_id) */
    pz_event_target_type type;
    char *ns;
    char *stream;          /* the learner stream of a builtin target (pz_learner), set when registered */
    uint64_t cursor_saved; /* (writer) the cursor in the outbox */
    pthread_mutex_t lock;
    char *spec_json;   /* replaced by the writer when the configuration changes it */
    bool spec_changed; /* the worker must rebuild its adapter */
    uint64_t cursor;   /* everything below is delivered or dead-lettered */
    pz_dead_item *dead_head, *dead_tail;
    bool caught_up;   /* builtin: the writer applies new records itself */
    bool retiring;    /* the worker must exit */
    uint64_t pending; /* records accepted for it, not finished */
    uint64_t delivered, delivered_events, retried, dead_lettered;
    bool retrying; /* the last call failed */
    char last_error[PZ_DELIVERY_MAX_REASON];
    int64_t last_error_ms, last_ok_ms;
    pz_worker *worker;
} pz_target_slot;

struct pz_event_pipeline {
    pz_event_pipeline_options opts;
    pz_outbox *ob;
    pz_target_env env;

    /* the registry: slots by number (writer adds and removes; stats and workers read) */
    pthread_mutex_t reg_lock;
    pz_target_slot **slots;
    size_t n_slots;

    /* the job queue and the writer */
    pthread_mutex_t lock;
    pthread_cond_t wake; /* jobs queued, progress reported, or stopping */
    pthread_cond_t idle; /* the queue is empty and the writer holds no job */
    struct pz_event_job *head, *tail;
    int64_t worker_error_logged_ms; /* (writer) rate limit of "cannot start a delivery thread" */
    int64_t store_error_logged_ms;  /* (writer) rate limit of "outbox write failed" */
    uint64_t store_failures;        /* (writer) calls refused since that line */
    size_t queued;
    /* exposures waiting for the writer (same lock); the first one's arrival time bounds how long
     * they wait (PZ_EVENTS_EXPOSURE_FLUSH_MS) */
    struct pz_exposure_item *exp_head, *exp_tail;
    size_t exp_queued;
    int64_t exp_since_ms;
    bool busy, draining, stopping;
    bool progress; /* a worker reported progress */
    pthread_t writer;
    bool writer_started;

    /* new records: workers wait for the generation to change */
    pthread_mutex_t notify_lock;
    pthread_cond_t notify;
    uint64_t generation;
    atomic_uint_fast64_t next_seq; /* after the writer's last commit */
    atomic_bool workers_stopping;

    atomic_uint_fast64_t calls_accepted, events_accepted, commits;
    atomic_uint_fast64_t exposures_accepted, exposures_dropped, experiment_records;
    pz_commit_clock commit_clock; /* when records were committed: the targets' lag in seconds */
    bool commit_clock_ready;      /* initialized (open got that far) */
};

/* An exposure waiting for the writer (malloc'ed with its user id): it holds a reference on the
 * configuration snapshot its pointers point into. */
typedef struct pz_exposure_item {
    struct pz_exposure_item *next;
    pz_config *config;
    const pz_namespace *ns;
    const pz_recommender *recommender;
    const pz_experiment *experiment;
    const pz_variation *variation;
    int64_t at_ms;
    char user_id[]; /* NUL-terminated */
} pz_exposure_item;

/* Copies src into dst (capacity cap), cut to fit. */
static inline void pz_copy_cut(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* A call waiting for the writer. It lives in its submission's arena. */
typedef struct pz_job_target {
    const char *id;
    const char *spec;
    pz_event_target_type type;
} pz_job_target;

/* One outbox record of a job and the job's targets it names (indexes into job->targets). */
typedef struct pz_job_record {
    uint8_t *bytes;
    size_t len;
    const uint16_t *targets;
    size_t n_targets;
    uint64_t seq; /* (writer) where it went */
} pz_job_record;

/* A PutEvents call (its envelope record, then one record per experiment conversion), or the
 * exposures of one served response (submission NULL: nobody waits for them). */
typedef struct pz_event_job {
    struct pz_event_job *next;
    pz_event_submission *submission; /* NULL: an exposure job */
    pz_arena *arena;                 /* the submission's, or the writer round's */
    const char *ns;
    const Personalization__V1__PutEventsRequest *events; /* NULL: an exposure job */
    size_t n_events; /* the call's events: a forward-only body's count, else events' list */
    pz_job_record *records;
    size_t n_records;
    pz_job_target *targets;
    size_t n_targets;
    pz_target_slot **slots; /* (writer) resolved targets */
    bool refused;           /* (writer) completed with an error before the commit; stores nothing */
    pz_worker **parked;     /* (writer) delivery threads started for the job's new targets */
    size_t n_parked, used_parked;
} pz_event_job;

/* The targets of a namespace's experiment records: the configured targets that take them (the
 * Personalize tracker and the builtin recommender only take events) and the experiment store's
 * own target. Appends to job->targets (room for ns->n_event_targets + 1 more) and returns the
 * index list of those targets. `store_only`: just the experiment store's target. */
const uint16_t *pz_experiment_targets(pz_event_job *job, const pz_namespace *ns, bool store_only, size_t *n);
/* Adds the namespace's configured targets to job->targets (deduplicated, config order); the
 * envelope names them all. */
void pz_job_add_ns_targets(pz_event_job *job, const pz_namespace *ns);
/* Renders a call's conversion records into the job (records has room). 0, or -1 with err. */
int pz_conversion_records(pz_event_job *job, const pz_event_submission *s, char *err, size_t errlen);
/* Turns queued exposures into jobs (in `arena`), one per exposure, and frees the items. Writer. */
pz_event_job *pz_exposure_jobs(pz_exposure_item *items, pz_arena *arena);

/* The registry (registry.c). Lookups: the writer, or holders of reg_lock. Add and remove: the
 * writer (or open/destroy), under reg_lock. */
pz_target_slot *pz_slot_new(uint32_t number, const char *id, const char *spec_json,
                            uint64_t cursor); /* NULL: bad spec */
void pz_slot_free(pz_target_slot *s);
void pz_dead_free(pz_dead_item *d);
pz_target_slot *pz_registry_find_id(pz_event_pipeline *p, const char *id);
pz_target_slot *pz_registry_find_number(pz_event_pipeline *p, uint32_t number);
void pz_registry_add(pz_event_pipeline *p, pz_target_slot *s);
void pz_registry_remove(pz_event_pipeline *p, pz_target_slot *s);

/* One round of the writer (round.c): stores the exposures (their items are freed) and `list` (both
 * may be NULL) and the workers' progress in one transaction, with replays and retirements when
 * `housekeeping` (retirements, and restarting missing workers, only when `may_retire`: not
 * draining), then answers the calls. Writer thread only. */
void pz_pipeline_round(pz_event_pipeline *p, pz_exposure_item *exposures, pz_event_job *list, bool housekeeping,
                       bool may_retire);
/* Wakes the workers: new records were committed (or they must stop). */
void pz_pipeline_notify_workers(pz_event_pipeline *p);

/* Workers (worker.c): one thread per slot. A worker is parked (its thread started, waiting) and
 * then released with its slot, or abandoned (its thread ends; nothing else happened). Park returns
 * NULL with err when the thread cannot be started. Start is park + release. */
pz_worker *pz_worker_park(pz_event_pipeline *p, char *err, size_t errlen);
void pz_worker_release(pz_worker *w, pz_target_slot *s);
void pz_worker_abandon(pz_worker *w);
pz_worker *pz_worker_start(pz_event_pipeline *p, pz_target_slot *s, char *err, size_t errlen);
/* Asks the worker to exit and cancels its in-flight call (any thread). */
void pz_worker_stop(pz_worker *w);
/* Waits for the thread and frees the worker. */
void pz_worker_join(pz_worker *w);

/* Starts the worker of every registered target that has none (at open, and in housekeeping rounds
 * after a thread could not be started, never while draining): records wait in the outbox meanwhile.
 * Writer thread (or open). */
void pz_pipeline_start_missing_workers(pz_event_pipeline *p);

/* The writer is told that a worker has progress to store. */
void pz_pipeline_progress(pz_event_pipeline *p);
/* Workers sleep until new records are committed (seen_generation UINT64_MAX: not a reason to
 * wake), `until_ms` (wall clock), or a stop (all workers, or *stop for one; the stopper calls
 * pz_pipeline_notify_workers). */
void pz_pipeline_wait_records(pz_event_pipeline *p, uint64_t seen_generation, int64_t until_ms,
                              const atomic_bool *stop);
uint64_t pz_pipeline_generation(pz_event_pipeline *p);

#endif
