#pragma once
// The command line's help: one table of commands and options that gives `repnas --help`,
// `repnas COMMAND --help` and the man page (`repnas man`), so that they cannot disagree.

#include <cstdio>
#include <string>

namespace repnas::cli {

/// @brief The overview: every command with its synopsis and one line.
void printUsage(std::FILE* out);
/// @brief One command in full: synopsis, description, options (and config keys for search).
/// False when there is no such command.
bool printCommandHelp(const std::string& command, std::FILE* out);
/// @brief The man page repnas(1), in roff.
std::string manPage();

}  // namespace repnas::cli
