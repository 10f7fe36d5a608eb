/* The subcommands of `usine`. Each returns the exit status: 0 success, 1 the work
 * failed, 2 a usage error (already explained on stderr). */
#ifndef USINE_CLI_COMMANDS_H
#define USINE_CLI_COMMANDS_H

#include <stdio.h>

#define USINE_EXIT_OK      0
#define USINE_EXIT_FAILURE 1
#define USINE_EXIT_USAGE   2

/* argv[0] is the first argument after the subcommand's name. */
int usine_cli_info(int argc, char **argv);
int usine_cli_bench(int argc, char **argv);
int usine_cli_report(int argc, char **argv);
int usine_cli_tune(int argc, char **argv);

void usine_cli_info_help(FILE *out);
void usine_cli_bench_help(FILE *out);
void usine_cli_report_help(FILE *out);
void usine_cli_tune_help(FILE *out);

/* If argv[*i] is `name VALUE` or `name=VALUE`, returns VALUE (advancing *i past it) and
 * sets *matched; a missing VALUE is a usage error (message printed, NULL returned). */
const char *usine_cli_option(int argc, char **argv, int *i, const char *name, int *matched);

#endif
