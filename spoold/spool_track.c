/*
 * spool_track: what trackd keeps in the spool besides the records: the
 * Postfix queue id -> job id map (qid/), its lock and its position in
 * Postfix's log (track.pos).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool.h"
#include "spool_impl.h"

#define QID_TMP		"qid."		/* tmp/qid.<qid> */
#define POS_TMP		"track.pos"	/* tmp/track.pos */
#define POS_MAGIC	"mail-relay-track 1\n"

int
spool_qid_valid(const char *q)
{
	size_t	n;

	if (q == NULL)
		return 0;
	for (n = 0; q[n] != '\0'; n++)
		if (n == SPOOL_QID_MAX || !((q[n] >= '0' && q[n] <= '9') ||
		    (q[n] >= 'A' && q[n] <= 'Z') || (q[n] >= 'a' && q[n] <= 'z')))
			return 0;
	return n > 0;
}

int
spool_qid_put(struct spool *sp, const char *qid, const char *id)
{
	char	tmpname[sizeof(QID_TMP) + SPOOL_QID_MAX];
	char	line[SPOOL_ID_LEN + 2];

	if (!spool_qid_valid(qid) || !spool_id_valid(id)) {
		errno = EINVAL;
		return -1;
	}
	(void)snprintf(tmpname, sizeof(tmpname), QID_TMP "%s", qid);
	(void)snprintf(line, sizeof(line), "%s\n", id);
	return spool_put_file_lazy(sp, tmpname, sp->qid, qid, line,
	    SPOOL_ID_LEN + 1);
}

int
spool_qid_get(struct spool *sp, const char *qid, char id[SPOOL_ID_LEN + 1])
{
	char	*buf;
	size_t	 len;

	if (!spool_qid_valid(qid)) {
		errno = EINVAL;
		return -1;
	}
	if (spool_slurp(sp->qid, qid, 64, &buf, &len) == -1)
		return -1;
	if (len != SPOOL_ID_LEN + 1 || buf[SPOOL_ID_LEN] != '\n') {
		free(buf);
		errno = EBADMSG;
		return -1;
	}
	buf[SPOOL_ID_LEN] = '\0';
	if (!spool_id_valid(buf)) {
		free(buf);
		errno = EBADMSG;
		return -1;
	}
	memcpy(id, buf, SPOOL_ID_LEN + 1);
	free(buf);
	return 0;
}

/* ---- trackd's lock ---- */

int
spool_track_lock(struct spool *sp)
{
	int	fd;

	if ((fd = spool_pidlock(sp, SPOOL_TRACK_LOCK_NAME)) == -1)
		return -1;
	if (sp->tracklockfd != -1)
		close(sp->tracklockfd);
	sp->tracklockfd = fd;
	return 0;
}

int
spool_track_running(struct spool *sp)
{
	return spool_pidlock_held(sp, SPOOL_TRACK_LOCK_NAME);
}

/* ---- trackd's position ---- */

static int
pos_num(char **p, const char *key, unsigned long long *out)
{
	const char	*errstr;
	char		*nl;
	size_t		 kl = strlen(key);

	if (strncmp(*p, key, kl) != 0 || (*p)[kl] != ' ' ||
	    (nl = strchr(*p, '\n')) == NULL)
		return -1;
	*nl = '\0';
	*out = (unsigned long long)strtonum(*p + kl + 1, 0, LLONG_MAX, &errstr);
	*p = nl + 1;
	return errstr == NULL ? 0 : -1;
}

int
spool_track_pos_load(struct spool *sp, struct spool_track_pos *pos)
{
	char	*buf, *p;
	int	 r = -1;

	if (spool_slurp(sp->root, SPOOL_TRACK_POS_NAME, 512, &buf, NULL) == -1)
		return -1;
	p = buf;
	if (strncmp(p, POS_MAGIC, strlen(POS_MAGIC)) == 0) {
		p += strlen(POS_MAGIC);
		if (pos_num(&p, "dev", &pos->dev) == 0 &&
		    pos_num(&p, "ino", &pos->ino) == 0 &&
		    pos_num(&p, "offset", &pos->offset) == 0 &&
		    pos_num(&p, "seq", &pos->seq) == 0 && *p == '\0')
			r = 0;
	}
	free(buf);
	if (r == -1)
		errno = EBADMSG;
	return r;
}

int
spool_track_pos_save(struct spool *sp, const struct spool_track_pos *pos)
{
	char	buf[256];
	int	n;

	if (pos->dev > LLONG_MAX || pos->ino > LLONG_MAX ||
	    pos->offset > LLONG_MAX || pos->seq > LLONG_MAX) {
		errno = EINVAL;
		return -1;
	}
	n = snprintf(buf, sizeof(buf), POS_MAGIC "dev %llu\nino %llu\n"
	    "offset %llu\nseq %llu\n", pos->dev, pos->ino, pos->offset,
	    pos->seq);
	if (n < 0 || (size_t)n >= sizeof(buf)) {
		errno = EOVERFLOW;
		return -1;
	}
	return spool_put_file(sp, POS_TMP, sp->root, SPOOL_TRACK_POS_NAME, buf,
	    (size_t)n);
}
