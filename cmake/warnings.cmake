# Warnings for our own code (not for third-party headers, which come in as SYSTEM).
# They are errors only in the project's own checks: tests/run-all.sh and tests/fuzz/run.sh
# configure with -DAUTODISCD_WERROR=ON. A user's, a packager's (CPack/.deb) or the container's
# build leaves it OFF, so a new compiler's new warning (or false positive) never breaks it.
option(AUTODISCD_WERROR "Treat compiler warnings as errors (the project's own checks turn it on)" OFF)

# Not used: -Wnull-dereference. GCC runs it only with the optimizer, and at -O2 it reported
# dozens of "potential null pointer dereference" false positives per build, all inside Asio
# (executor comparison, scheduler) and libstdc++ (istreambuf_iterator) code inlined into ours;
# they buried the warnings that matter.
function(autodiscd_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Wunused -Woverloaded-virtual -Wformat=2)
  if(AUTODISCD_WERROR)
    target_compile_options(${target} PRIVATE
      -Werror
      # GCC 12 with the optimizer reports a "mismatched new/delete" on Asio's coroutine frames
      # (awaitable_frame_base::operator delete) when inlined into our coroutines: a false
      # positive. Still a warning there, an error in Debug.
      $<$<NOT:$<CONFIG:Debug>>:-Wno-error=mismatched-new-delete>)
  endif()
endfunction()
