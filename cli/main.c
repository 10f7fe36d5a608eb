/* `usine`: the command-line face of the library (DESIGN.md: info, tune, bench, report,
 * verify). Today: info, bench and report. */
#include <stdio.h>
#include <string.h>

#include "usine.h"
#include "commands.h"

static void usage(FILE *out)
{
    fprintf(out, "usage: usine <command> [options]\n"
                 "\n"
                 "commands:\n"
                 "  info [--json]        the machine as usine sees it: CPU, ISA, topology,\n"
                 "                       threads, the GEMM kernels chosen and registered\n"
                 "  bench [SUITE] [...]  GFLOP/s against the measured peak, the bandwidth and\n"
                 "                       the peer libraries (OpenBLAS, BLIS, oneDNN); --mpi under\n"
                 "                       mpirun for a cluster; 'usine bench --help'\n"
                 "  report FILE... [-o HTML]  an HTML report (roofline, bars, machines side by\n"
                 "                       side) from bench JSON files\n"
                 "  tune [...]           measure GEMM candidates, keep the winners in the tuning\n"
                 "                       database; 'usine tune --help'\n"
                 "  help [command]       this text, or a command's options\n"
                 "\n"
                 "options:\n"
                 "  -h, --help           this text\n"
                 "  -V, --version        the library's version\n"
                 "\n"
                 "exit status: 0 success, 1 failure (or a benchmark mismatch), 2 usage error\n");
}

const char *usine_cli_option(int argc, char **argv, int *i, const char *name, int *matched)
{
    const size_t len = strlen(name);
    *matched = 0;
    if (strncmp(argv[*i], name, len) != 0)
        return NULL;
    if (argv[*i][len] == '=') {
        *matched = 1;
        return argv[*i] + len + 1;
    }
    if (argv[*i][len] != '\0')
        return NULL;
    *matched = 1;
    if (*i + 1 >= argc) {
        fprintf(stderr, "usine: option %s needs a value\n", name);
        return NULL;
    }
    return argv[++*i];
}

static int help(int argc, char **argv)
{
    if (argc < 1) {
        usage(stdout);
        return USINE_EXIT_OK;
    }
    if (strcmp(argv[0], "info") == 0)
        usine_cli_info_help(stdout);
    else if (strcmp(argv[0], "bench") == 0)
        usine_cli_bench_help(stdout);
    else if (strcmp(argv[0], "report") == 0)
        usine_cli_report_help(stdout);
    else if (strcmp(argv[0], "tune") == 0)
        usine_cli_tune_help(stdout);
    else {
        fprintf(stderr, "usine: no help for '%s': not a command (see 'usine --help')\n", argv[0]);
        return USINE_EXIT_USAGE;
    }
    return USINE_EXIT_OK;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return USINE_EXIT_USAGE;
    }
    const char *command = argv[1];
    if (!strcmp(command, "help") || !strcmp(command, "--help") || !strcmp(command, "-h"))
        return help(argc - 2, argv + 2);
    if (!strcmp(command, "--version") || !strcmp(command, "-V") || !strcmp(command, "version")) {
        printf("usine %s\n", usine_version());
        return USINE_EXIT_OK;
    }
    if (!strcmp(command, "info"))
        return usine_cli_info(argc - 2, argv + 2);
    if (!strcmp(command, "bench"))
        return usine_cli_bench(argc - 2, argv + 2);
    if (!strcmp(command, "tune"))
        return usine_cli_tune(argc - 2, argv + 2);
    if (!strcmp(command, "report"))
        return usine_cli_report(argc - 2, argv + 2);
    if (!strcmp(command, "tune") || !strcmp(command, "verify")) {
        fprintf(stderr, "usine: '%s' is planned but not in this version\n", command);
        return USINE_EXIT_USAGE;
    }
    fprintf(stderr, "usine: unknown %s '%s' (see 'usine --help')\n",
            command[0] == '-' ? "option" : "command", command);
    return USINE_EXIT_USAGE;
}
