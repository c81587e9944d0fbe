# Install rules for the system layout and the Debian package (`cpack -G DEB` in a build folder).
# The package installs:
#   /usr/bin/autodiscd                         (install(TARGETS) in CMakeLists.txt)
#   /lib/systemd/system/autodiscd.service      the hardened unit
#   /etc/autodiscd/autodiscd.yaml              commented default config (conffile)
#   /etc/autodiscd/templates/<check>.d/*.yaml  example templates (conffiles)
#   /var/lib/autodiscd/conf.d/                 the output folder (owned by the autodiscd user)
#   /usr/share/doc/autodiscd/, /usr/share/man/man1/autodiscd.1.gz
#   /usr/share/doc/autodiscd/examples/process-listener.conf
#                                              the process listener's drop-in, inactive until copied
# Maintainer scripts (packaging/debian/) create and remove the autodiscd system user.

set(AUTODISCD_PKG_DIR ${CMAKE_SOURCE_DIR}/packaging)
set(AUTODISCD_PKG_BUILD ${CMAKE_BINARY_DIR}/packaging)
file(MAKE_DIRECTORY ${AUTODISCD_PKG_BUILD})

# Debian's hardening for the one binary we ship (link options only: no rebuild of objects).
if(TARGET autodiscd)
  target_link_options(autodiscd PRIVATE -Wl,-z,relro -Wl,-z,now)
endif()

install(FILES ${CMAKE_SOURCE_DIR}/systemd/autodiscd.service
        DESTINATION /lib/systemd/system COMPONENT daemon)
install(FILES ${AUTODISCD_PKG_DIR}/autodiscd.yaml
        DESTINATION /etc/autodiscd COMPONENT daemon)
install(DIRECTORY ${CMAKE_SOURCE_DIR}/examples/templates/
        DESTINATION /etc/autodiscd/templates COMPONENT daemon
        FILES_MATCHING PATTERN "*.yaml" PATTERN "*.yml")
install(DIRECTORY DESTINATION /var/lib/autodiscd/conf.d COMPONENT daemon)

# Documentation: README, copyright, changelog (gzip -9n, as Debian policy wants), man page.
# A native package (no Debian revision): its changelog is changelog.gz.
configure_file(${AUTODISCD_PKG_DIR}/debian/changelog.in ${AUTODISCD_PKG_BUILD}/changelog @ONLY)
find_program(AUTODISCD_GZIP gzip)
if(AUTODISCD_GZIP)
  execute_process(COMMAND ${AUTODISCD_GZIP} -9nf -k ${AUTODISCD_PKG_BUILD}/changelog)
  configure_file(${AUTODISCD_PKG_DIR}/autodiscd.1 ${AUTODISCD_PKG_BUILD}/autodiscd.1 COPYONLY)
  execute_process(COMMAND ${AUTODISCD_GZIP} -9nf -k ${AUTODISCD_PKG_BUILD}/autodiscd.1)
  install(FILES ${AUTODISCD_PKG_BUILD}/changelog.gz
          DESTINATION /usr/share/doc/autodiscd COMPONENT daemon)
  install(FILES ${AUTODISCD_PKG_BUILD}/autodiscd.1.gz
          DESTINATION /usr/share/man/man1 COMPONENT daemon)
endif()
install(FILES ${AUTODISCD_PKG_DIR}/debian/copyright ${CMAKE_SOURCE_DIR}/README.md
        DESTINATION /usr/share/doc/autodiscd COMPONENT daemon)
# An example in Debian's place for examples: the drop-in the process listener needs, which the
# administrator copies to /etc/systemd/system/autodiscd.service.d/ when enabling that listener.
install(FILES ${CMAKE_SOURCE_DIR}/systemd/process-listener.conf
        DESTINATION /usr/share/doc/autodiscd/examples COMPONENT daemon)

# conffiles: every file installed under /etc.
file(GLOB_RECURSE AUTODISCD_TEMPLATE_FILES RELATIVE ${CMAKE_SOURCE_DIR}/examples/templates
     CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/examples/templates/*.yaml ${CMAKE_SOURCE_DIR}/examples/templates/*.yml)
list(SORT AUTODISCD_TEMPLATE_FILES)
set(AUTODISCD_CONFFILES "/etc/autodiscd/autodiscd.yaml\n")
foreach(f IN LISTS AUTODISCD_TEMPLATE_FILES)
  string(APPEND AUTODISCD_CONFFILES "/etc/autodiscd/templates/${f}\n")
endforeach()
file(WRITE ${AUTODISCD_PKG_BUILD}/conffiles "${AUTODISCD_CONFFILES}")

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME autodiscd)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "the autodiscd authors")
set(CPACK_PACKAGE_CONTACT "autodiscd developers <autodiscd@example.org>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "standalone autodiscovery daemon for monitoring agents")
# CPack takes the synopsis from the summary above; this is the extended description.
set(CPACK_DEBIAN_PACKAGE_DESCRIPTION
"autodiscd watches where services run (the Docker Engine API, the kubelet's
/pods, the ECS task metadata endpoint, or a static services file), matches
each running container to check templates by its autodiscovery identifiers,
fills the template variables and writes the resolved configs atomically into
a folder that a monitoring agent reads: Datadog Agent check configs and
Prometheus file_sd target groups.")
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# What the maintainer scripts call (adduser, deb-systemd-helper); shlibdeps adds the libraries.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, init-system-helpers (>= 1.54)")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "docker.io, prometheus")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
    ${AUTODISCD_PKG_DIR}/debian/postinst
    ${AUTODISCD_PKG_DIR}/debian/prerm
    ${AUTODISCD_PKG_DIR}/debian/postrm
    ${AUTODISCD_PKG_BUILD}/conffiles)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Absolute destinations (/etc, /lib, /var) are expected here.
set(CPACK_WARN_ON_ABSOLUTE_INSTALL_DESTINATION OFF)
include(CPack)
