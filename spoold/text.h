/*
 * text: small text jobs every program needs the same way.
 *
 * text_hex writes bytes as lowercase hex (tokens, hashes, file names).
 * text_line makes an untrusted text (sendmail's output, a subject, an
 * error) safe for one log line or one terminal line: printable ASCII and
 * valid UTF-8 stay as they are; a backslash becomes \\, CR, LF and TAB
 * \r, \n and \t, and every other byte (controls, DEL, C1 controls, bytes
 * that are not valid UTF-8) \xHH.  The output is valid UTF-8 with no
 * control character.  Neither is the spool's escaping (spool_escape),
 * which is a file format: reversible and ASCII only.
 */
#ifndef TEXT_H
#define TEXT_H

#include <stddef.h>

/* 2 * n hex digits and a NUL into out. */
void		 text_hex(const void *p, size_t n, char *out);

/* Room text_line needs for all of s, so that nothing is cut. */
#define TEXT_LINE_SIZE(len)	((len) * 4 + 4)
/*
 * s made safe into out (size >= 4 bytes with the NUL); a copy cut short
 * ends "...".  Returns out.
 */
const char	*text_line(const char *s, char *out, size_t size);

#endif
