/* The event pipeline: a queue of accepted PutEvents calls and one writer thread that applies them
 * and completes the calls. Calls queued while the writer is busy are committed together, one
 * LMDB transaction per namespace per round (group commit), so many small requests do not each
 * pay for a disk sync. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "server/core/events.h"
#include "server/core/log.h"

typedef struct event_job {
    struct event_job *next;
    pz_request *req;
    const char *ns_key;
    Personalization__V1__PutEventsRequest *events;
    bool feed_builtin;
} event_job;

struct pz_event_pipeline {
    pz_builtin *builtin;
    pthread_mutex_t lock;
    pthread_cond_t wake;     /* signalled when a job is queued or stopping is set */
    pthread_cond_t idle;     /* signalled when the queue is empty and nothing is in flight */
    event_job *head, *tail;
    bool busy;               /* the writer holds jobs it has not completed yet */
    bool draining;           /* no new submissions */
    bool stopping;           /* the writer thread should exit once the queue is empty */
    pthread_t thread;
};

static void complete_job(event_job *job, bool ok, const char *errmsg)
{
    pz_request *req = job->req;
    if (!ok) {
        pz_request_fail(req, PZ_INTERNAL, PZ_ERRTYPE_UNHANDLED, "EventWriteFailed", "could not store the events: %s",
                        errmsg);
        return;
    }
    Personalization__V1__PutEventsResponse *resp =
        (Personalization__V1__PutEventsResponse *)pz_arena_new_message(req->arena,
                                                                       &personalization__v1__put_events_response__descriptor);
    resp->n_event_ids = job->events->n_event_list;
    resp->event_ids = pz_arena_calloc(req->arena, resp->n_event_ids, sizeof(char *));
    for (size_t i = 0; i < resp->n_event_ids; i++)
        resp->event_ids[i] = job->events->event_list[i]->event_id;
    pz_request_succeed(req, &resp->base);
}

/* Builtin events of every job in jobs[0..n) that feeds namespace ns, in queue order. */
static pz_builtin_event *collect_builtin_events(const event_job *jobs, size_t n_jobs, const char *ns, size_t *n_out)
{
    size_t n = 0;
    for (size_t j = 0; j < n_jobs; j++) {
        if (jobs[j].feed_builtin && strcmp(jobs[j].ns_key, ns) == 0)
            n += jobs[j].events->n_event_list;
    }
    pz_builtin_event *out = pz_calloc(n ? n : 1, sizeof *out);
    size_t k = 0;
    for (size_t j = 0; j < n_jobs; j++) {
        if (!jobs[j].feed_builtin || strcmp(jobs[j].ns_key, ns) != 0)
            continue;
        const Personalization__V1__PutEventsRequest *in = jobs[j].events;
        for (size_t i = 0; i < in->n_event_list; i++) {
            const Personalization__V1__Event *ev = in->event_list[i];
            pz_builtin_event *b = &out[k++];
            b->user_id = in->user_id;
            b->session_id = in->session_id;
            b->item_id = ev->item_id;
            b->event_type = ev->event_type;
            b->has_event_value = ev->has_event_value;
            b->event_value = ev->event_value;
            b->sent_at_ms = (int64_t)(ev->sent_at * 1000.0);
        }
    }
    *n_out = n;
    return out;
}

/* Applies one round of jobs (taken off the queue together): one ingest per distinct namespace,
 * then completes every job with the outcome of its namespace's transaction. The jobs live in
 * their requests' arenas, which the fronts may free as soon as a request completes, so the list
 * is copied first and only the copies are read. */
static void process_round(pz_event_pipeline *p, event_job *list)
{
    size_t n_jobs = 0;
    for (event_job *j = list; j != NULL; j = j->next)
        n_jobs++;
    event_job *jobs = pz_calloc(n_jobs, sizeof *jobs);
    size_t i = 0;
    for (event_job *j = list; j != NULL; j = j->next)
        jobs[i++] = *j;
    bool *ok = pz_calloc(n_jobs, sizeof *ok);
    char **errors = pz_calloc(n_jobs, sizeof *errors);

    for (size_t j = 0; j < n_jobs; j++) {
        ok[j] = true;
        if (!jobs[j].feed_builtin)
            continue;
        size_t first = 0;
        while (first < j && !(jobs[first].feed_builtin && strcmp(jobs[first].ns_key, jobs[j].ns_key) == 0))
            first++;
        if (first < j) { /* this namespace was written with an earlier job of the round */
            ok[j] = ok[first];
            errors[j] = errors[first] ? pz_strdup(errors[first]) : NULL;
            continue;
        }
        size_t n;
        pz_builtin_event *evs = collect_builtin_events(jobs, n_jobs, jobs[j].ns_key, &n);
        char err[256] = "";
        if (n > 0 && pz_builtin_ingest(p->builtin, jobs[j].ns_key, evs, n, err, sizeof err) != 0) {
            pz_error_log("events: namespace %s: %zu events not stored: %s", jobs[j].ns_key, n, err);
            ok[j] = false;
            errors[j] = pz_strdup(err);
        }
        free(evs);
    }
    for (size_t j = 0; j < n_jobs; j++) {
        complete_job(&jobs[j], ok[j], errors[j]);
        free(errors[j]);
    }
    free(errors);
    free(ok);
    free(jobs);
}

static void *writer_main(void *arg)
{
    pz_event_pipeline *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->head == NULL && !p->stopping)
            pthread_cond_wait(&p->wake, &p->lock);
        if (p->head == NULL && p->stopping)
            break;
        event_job *jobs = p->head;
        p->head = p->tail = NULL;
        p->busy = true;
        pthread_mutex_unlock(&p->lock);
        process_round(p, jobs);
        pthread_mutex_lock(&p->lock);
        p->busy = false;
        if (p->head == NULL)
            pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

pz_event_pipeline *pz_event_pipeline_create(pz_builtin *builtin)
{
    pz_event_pipeline *p = pz_calloc(1, sizeof *p);
    p->builtin = builtin;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->wake, NULL);
    pthread_cond_init(&p->idle, NULL);
    if (pthread_create(&p->thread, NULL, writer_main, p) != 0)
        pz_fatal("cannot start the event writer thread");
    return p;
}

void pz_event_pipeline_submit(pz_event_pipeline *p, pz_request *req, const char *ns_key,
                              Personalization__V1__PutEventsRequest *events, bool feed_builtin)
{
    event_job *job = pz_arena_calloc(req->arena, 1, sizeof *job);
    job->req = req;
    job->ns_key = ns_key;
    job->events = events;
    job->feed_builtin = feed_builtin;
    pthread_mutex_lock(&p->lock);
    if (p->draining) {
        pthread_mutex_unlock(&p->lock);
        pz_request_fail(req, PZ_UNAVAILABLE, PZ_ERRTYPE_UNHANDLED, "ShuttingDown",
                        "the server is shutting down; retry on another instance");
        return;
    }
    if (p->tail != NULL)
        p->tail->next = job;
    else
        p->head = job;
    p->tail = job;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
}

void pz_event_pipeline_drain(pz_event_pipeline *p)
{
    pthread_mutex_lock(&p->lock);
    p->draining = true;
    while (p->head != NULL || p->busy)
        pthread_cond_wait(&p->idle, &p->lock);
    pthread_mutex_unlock(&p->lock);
}

void pz_event_pipeline_destroy(pz_event_pipeline *p)
{
    pz_event_pipeline_drain(p);
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_signal(&p->wake);
    pthread_mutex_unlock(&p->lock);
    pthread_join(p->thread, NULL);
    pthread_cond_destroy(&p->wake);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
