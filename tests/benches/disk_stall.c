// Disk-stall injector for benchmarks: in a process named schemagate-server,
// the first fsync/fdatasync after every STALL_EVERY_MS (default 5000) waits
// STALL_MS (default 300) before syncing, the way a shared virtual disk
// stalls now and then. Other processes are untouched. The harness hands it
// to the server alone:
//
//   gcc -O2 -shared -fPIC -o /tmp/disk_stall.so tests/benches/disk_stall.c -ldl
//   SCHEMAGATE_E2E_SERVER_LD_PRELOAD=/tmp/disk_stall.so FLEET_BENCH_CATALOGS=sqlite \
//     cargo bench -p schemagate-e2e --bench fleet_load
//
// (The harness clears the server's environment, so STALL_MS and
// STALL_EVERY_MS keep their defaults there.)
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int active = -1;
static long long last_ms;
static long stall_ms = 300, every_ms = 5000;
static unsigned long stalls;

static long long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

static int is_active(void) {
  if (active < 0) {
    char comm[64] = {0};
    FILE *f = fopen("/proc/self/comm", "r");
    if (f) { if (!fgets(comm, sizeof comm, f)) comm[0] = 0; fclose(f); }
    active = strncmp(comm, "schemagate-serv", 15) == 0;
    if (getenv("STALL_MS")) stall_ms = atol(getenv("STALL_MS"));
    if (getenv("STALL_EVERY_MS")) every_ms = atol(getenv("STALL_EVERY_MS"));
    last_ms = now_ms();
  }
  return active;
}

static void maybe_stall(void) {
  if (!is_active()) return;
  long long now = now_ms();
  long long last = __atomic_load_n(&last_ms, __ATOMIC_RELAXED);
  if (now - last >= every_ms &&
      __atomic_compare_exchange_n(&last_ms, &last, now, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    __atomic_add_fetch(&stalls, 1, __ATOMIC_RELAXED);
    struct timespec ts = {stall_ms / 1000, (stall_ms % 1000) * 1000000L};
    nanosleep(&ts, 0);
  }
}

int fsync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  maybe_stall();
  return real(fd);
}

int fdatasync(int fd) {
  static int (*real)(int);
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  maybe_stall();
  return real(fd);
}
