#include "child.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t size)
{
    const char *p = (const char *)data;
    while (size > 0) {
        ssize_t w = write(fd, p, size);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        size -= (size_t)w;
    }
    return 0;
}

static size_t read_all(int fd, void *data, size_t size)
{
    char *p = (char *)data;
    size_t got = 0;
    while (got < size) {
        ssize_t r = read(fd, p + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    return got;
}

_Noreturn static void run_child(int fd, usine_bench_child_fn *fn, void *arg, void *out,
                                size_t out_size, unsigned timeout_s)
{
    alarm(timeout_s); /* SIGALRM's default action ends a hung child */
    memset(out, 0, out_size);
    fn(arg, out);
    /* _exit: the parent's stdio buffers were copied by fork and must not be flushed twice;
     * peers' atexit handlers (thread pools) need not run either. */
    _exit(write_all(fd, out, out_size) == 0 ? 0 : 1);
}

static void explain(int status, unsigned timeout_s, char *why, size_t why_size)
{
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM)
        snprintf(why, why_size, "timed out after %u s", timeout_s);
    else if (WIFSIGNALED(status))
        snprintf(why, why_size, "crashed with signal %d (%s)", WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
    else if (WIFEXITED(status))
        snprintf(why, why_size, "exited with status %d before reporting", WEXITSTATUS(status));
    else
        snprintf(why, why_size, "ended abnormally");
}

int usine_bench_in_child(usine_bench_child_fn *fn, void *arg, void *out, size_t out_size,
                         unsigned timeout_s, char *why, size_t why_size)
{
    int fds[2];
    if (pipe(fds) != 0) {
        snprintf(why, why_size, "pipe: %s", strerror(errno));
        return -1;
    }
    fflush(stdout);
    fflush(stderr);
    const pid_t pid = fork();
    if (pid < 0) {
        snprintf(why, why_size, "fork: %s", strerror(errno));
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        run_child(fds[1], fn, arg, out, out_size, timeout_s);
    }
    close(fds[1]);
    const size_t got = read_all(fds[0], out, out_size);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (got == out_size && WIFEXITED(status) && WEXITSTATUS(status) == 0)
        return 0;
    explain(status, timeout_s, why, why_size);
    return -1;
}

void *usine_bench_shared_alloc(size_t bytes)
{
    void *p =
        mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
}

void usine_bench_shared_free(void *p, size_t bytes)
{
    if (p)
        munmap(p, bytes ? bytes : 1);
}
