/* bank_transfer.c — transfers between accounts that lock both accounts in
 * one global order, so two opposite transfers cannot deadlock.
 *
 * Go original (consistent lock ordering):
 *
 *     func transfer(from, to *Account, amount int) {
 *         // Always lock in consistent order
 *         first, second := from, to
 *         if from.id > to.id {
 *             first, second = to, from
 *         }
 *         first.mu.Lock()
 *         defer first.mu.Unlock()
 *         second.mu.Lock()
 *         defer second.mu.Unlock()
 *
 *         from.balance -= amount
 *         to.balance += amount
 *     }
 *
 * Locking from then to would deadlock as soon as one goroutine moves money
 * A -> B while another moves B -> A. Here many goroutines make random
 * transfers (each with its own seeded generator, so the set of transfers
 * is fixed) and a yield while holding the first lock invites exactly that
 * interleaving. Money is conserved: the total never changes, and each
 * account's final balance equals its start plus its net transfers. */
#include <goc.h>
#include <stdint.h>
#include <stdio.h>

enum { ACCOUNTS = 8, WORKERS = 8, TRANSFERS = 400, START = 1000 };

struct account {
    int id;
    goc_mutex mu;
    long balance;
};

static struct account accounts[ACCOUNTS];

static void transfer(struct account *from, struct account *to, long amount) {
    struct account *first = from, *second = to;
    if (from->id > to->id) { /* always lock the lower id first */
        first = to;
        second = from;
    }
    goc_mutex_lock(&first->mu);
    goc_yield(); /* give an opposite transfer every chance to interleave */
    goc_mutex_lock(&second->mu);
    from->balance -= amount;
    to->balance += amount;
    goc_mutex_unlock(&second->mu);
    goc_mutex_unlock(&first->mu);
}

static uint32_t next_rand(uint32_t *s) { /* xorshift32 */
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

struct worker {
    uint32_t seed;
    long net[ACCOUNTS]; /* this worker's net effect on each account */
};

static void worker(void *arg) {
    struct worker *w = arg;
    for (int i = 0; i < TRANSFERS; i++) {
        int a = (int)(next_rand(&w->seed) % ACCOUNTS);
        int b = (int)(next_rand(&w->seed) % (ACCOUNTS - 1));
        if (b >= a)
            b++; /* b != a */
        long amount = 1 + (long)(next_rand(&w->seed) % 50);
        transfer(&accounts[a], &accounts[b], amount); /* balances may go negative: fine here */
        w->net[a] -= amount;
        w->net[b] += amount;
    }
}

static long total(void) { /* lock every account, in id order */
    long sum = 0;
    for (int i = 0; i < ACCOUNTS; i++)
        goc_mutex_lock(&accounts[i].mu);
    for (int i = 0; i < ACCOUNTS; i++)
        sum += accounts[i].balance;
    for (int i = ACCOUNTS - 1; i >= 0; i--)
        goc_mutex_unlock(&accounts[i].mu);
    return sum;
}

static int run(void *arg) {
    (void)arg;
    for (int i = 0; i < ACCOUNTS; i++)
        accounts[i] = (struct account){.id = i, .balance = START};
    struct worker ws[WORKERS];
    goc_waitgroup wg = {0};
    for (int i = 0; i < WORKERS; i++) {
        ws[i] = (struct worker){.seed = 2463534242u + 977u * (uint32_t)i};
        if (goc_wg_go(&wg, worker, &ws[i]) != 0) {
            fprintf(stderr, "bank_transfer: cannot start a goroutine\n");
            return 1;
        }
    }
    long mid = total(); /* a consistent snapshot while transfers run */
    goc_wg_wait(&wg);

    int wrong = 0;
    for (int a = 0; a < ACCOUNTS; a++) {
        long want = START;
        for (int i = 0; i < WORKERS; i++)
            want += ws[i].net[a];
        printf("account %d: %ld\n", a, accounts[a].balance);
        wrong += accounts[a].balance != want;
    }
    long end = total(), want = (long)ACCOUNTS * START;
    printf("%d transfers by %d goroutines; total %ld during, %ld after (want %ld)\n",
           WORKERS * TRANSFERS, WORKERS, mid, end, want);
    if (wrong || mid != want || end != want) {
        fprintf(stderr, "bank_transfer: %d accounts wrong; totals %ld, %ld; want %ld\n", wrong, mid,
                end, want);
        return 1;
    }
    return 0;
}

int main(void) { return goc_run(run, NULL); }
