# Warnings are errors in our own code (not in third-party headers, which come in as SYSTEM).
# Not used: -Wnull-dereference. GCC runs it only with the optimizer, and at -O2 it reported
# dozens of "potential null pointer dereference" false positives per build, all inside Asio
# (executor comparison, scheduler) and libstdc++ (istreambuf_iterator) code inlined into ours;
# they buried the warnings that matter.
function(autodiscd_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Wunused -Woverloaded-virtual -Wformat=2 -Werror
    # GCC 12 at -O2 reports a "mismatched new/delete" on Asio's coroutine frames
    # (awaitable_frame_base::operator delete) when inlined into our coroutines: a false
    # positive. Still a warning there, an error in Debug.
    $<$<NOT:$<CONFIG:Debug>>:-Wno-error=mismatched-new-delete>)
endfunction()
