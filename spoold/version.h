/* version: the release (as in debian/changelog), shown in /metrics. */
#ifndef VERSION_H
#define VERSION_H

#define RELAY_VERSION	"0.2.0"

#endif
