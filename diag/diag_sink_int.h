/* diag/diag_sink_int.h: what the sink files share: diag_sink.c (our descriptors, the retry
 * clock, the write dispatch), diag_sink_file.c (file and stderr), diag_sink_sock.c (syslog
 * and journald). Not part of diag.h's contract. None of these touches errno on success. */
#ifndef SOCKPOLICY_DIAG_SINK_INT_H
#define SOCKPOLICY_DIAG_SINK_INT_H

#include <sys/stat.h>

#include "diag.h"

/* One number for (device, inode): (st_ino ^ st_dev << 40) + 1; fd_id is fstat's, 0 when
 * fstat fails. */
uint64_t diag__stat_id(const struct stat *st);
uint64_t diag__fd_id(int fd);
/* fd's open flags that tell our descriptor from another open of the same file, or -1. */
int diag__fd_oflags(int fd);
/* Whether fd still is the descriptor we opened (same file, same flags, close-on-exec). */
int diag__still_ours(int fd, uint64_t id, int oflags);
/* Closes fd through s->ops only if it still is ours: a number the program took is forgotten. */
void diag__close_if_ours(const struct sp_sink *s, int fd, uint64_t id, int oflags);
/* Whether writing to fd may raise SIGPIPE (a pipe, a FIFO, a socket). */
int diag__fd_piped(int fd);
/* CLOCK_MONOTONIC seconds. */
int64_t diag__mono_s(void);
/* Whether this is the first failed-open retry of the current second (at most one a second). */
int diag__retry_due(struct sp_sink *s);
/* fd moved high and close-on-exec (the original closed through ops); fd itself when nothing
 * higher is free; -1 with EMFILE (and fd closed) when fd is 0, 1 or 2 and cannot move. */
int diag__move_high(const struct sp_diag_ops *ops, int fd);
/* s emptied: no descriptor, ops (libc's when NULL), path copied (cut at sizeof s->path). */
void diag__sink_reset(struct sp_sink *s, const struct sp_diag_ops *ops, const char *path);

/* The file sink's descriptor, reopened when lost or rotated; -1 when there is none. */
int diag__file_fd(struct sp_sink *s);
/* One line to fd with one write (retried on EINTR), SIGPIPE held off when piped: 0 or -1. */
int diag__write_line_to(int fd, const char *line, size_t len, int piped);
/* One datagram to the syslog or journald sink's path: 0 or -1. */
int diag__send_dgram(struct sp_sink *s, const char *buf, size_t len);

#endif
