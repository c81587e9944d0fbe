#include "daemon/cli.hpp"

int main(int argc, char** argv) { return autodiscd::run_cli(argc, argv); }
