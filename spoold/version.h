/* version: the release, shown by every program's -V and in /metrics. */
#ifndef VERSION_H
#define VERSION_H

#define RELAY_VERSION	"0.2.0"

#endif
