/* The sync spy of the durability tests, preloaded into a writer (LD_PRELOAD): after each fsync() or fdatasync()
   returns successfully, it appends "synced PATH" to the file named by $SYNC_SPY_LOG, with one write to a file
   opened with O_APPEND, so the line lands in order with the writer's own lines in the same file. It changes
   nothing else: the real call runs first, and its result is returned as it was. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void note(int fd) {
    const char *log = getenv("SYNC_SPY_LOG");
    if (log == NULL) return;
    char link[64], path[4096], line[4200];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t length = readlink(link, path, sizeof path - 1);
    if (length < 0) return;
    path[length] = '\0';
    int size = snprintf(line, sizeof line, "synced %s\n", path);
    int out = open(log, O_WRONLY | O_APPEND | O_CREAT, 0600);
    if (out < 0) return;
    if (write(out, line, (size_t)size) < 0) { /* the spy never changes what the writer sees */ }
    close(out);
}

int fsync(int fd) {
    static int (*real)(int);
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
    int result = real(fd);
    if (result == 0) note(fd);
    return result;
}

int fdatasync(int fd) {
    static int (*real)(int);
    if (real == NULL) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
    int result = real(fd);
    if (result == 0) note(fd);
    return result;
}
