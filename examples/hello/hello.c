/* hello: the kiln example program.
 *
 * hermetic.nix passes KILN_NAME, KILN_VERSION and KILN_TARGET with -D, so one
 * source file tells which of kiln's targets a binary was built for.
 */
#include <stdio.h>
#include <string.h>

#ifndef KILN_NAME
#define KILN_NAME "hello"
#endif
#ifndef KILN_VERSION
#define KILN_VERSION "0.0.0"
#endif
#ifndef KILN_TARGET
#define KILN_TARGET "unknown"
#endif

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--version") == 0) {
        printf("%s %s (%s)\n", KILN_NAME, KILN_VERSION, KILN_TARGET);
        return 0;
    }
    if (argc > 1 && strcmp(argv[1], "--help") == 0) {
        printf("usage: %s [--version | --help | NAME]\n", KILN_NAME);
        return 0;
    }
    printf("Hello, %s! (from %s)\n", argc > 1 ? argv[1] : "world", KILN_TARGET);
    return 0;
}
