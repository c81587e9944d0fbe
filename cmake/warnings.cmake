# Warnings are errors in our own code (not in third-party headers, which come in as SYSTEM).
function(autodiscd_warnings target)
  target_compile_options(${target} PRIVATE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast -Wcast-align
    -Wunused -Woverloaded-virtual -Wnull-dereference -Wformat=2 -Werror
    # GCC 12 at -O2 reports a "potential null pointer dereference" inside Asio's any_executor
    # comparison (io_context.hpp) and a "mismatched new/delete" on Asio's coroutine frames
    # (awaitable_frame_base::operator delete) when inlined into our coroutines: false positives
    # that break every optimized build. Still warnings there, errors in Debug.
    $<$<NOT:$<CONFIG:Debug>>:-Wno-error=null-dereference>
    $<$<NOT:$<CONFIG:Debug>>:-Wno-error=mismatched-new-delete>)
endfunction()
