# Install rules: binaries, systemd units, sysusers/tmpfiles entries, the config, man pages, shell
# completion and docs, all placed relative to CMAKE_INSTALL_PREFIX (GNUInstallDirs), so that a
# source install (`cmake --install build`, prefix /usr/local) and the Debian package (prefix /usr,
# debian/rules) both get units that name the binaries and config where they really are.
#
#   cmake -S . -B build -G Ninja -DPURGEQ_BUILD_TESTS=OFF && cmake --build build
#   sudo cmake --install build            # /usr/local/bin, /usr/local/etc/purgeq, ...
#
# systemd searches /usr/local/lib/systemd/system, /usr/local/lib/sysusers.d and
# /usr/local/lib/tmpfiles.d as well as /usr/lib, so the default directories below work for both.
include(GNUInstallDirs)

set(PURGEQ_SYSTEMD_UNITDIR "${CMAKE_INSTALL_PREFIX}/lib/systemd/system" CACHE PATH
    "Where the systemd units go (Debian bookworm's debhelper wants /lib/systemd/system)")
set(PURGEQ_SYSUSERSDIR "${CMAKE_INSTALL_PREFIX}/lib/sysusers.d" CACHE PATH
    "Where the sysusers.d entry goes")
set(PURGEQ_TMPFILESDIR "${CMAKE_INSTALL_PREFIX}/lib/tmpfiles.d" CACHE PATH
    "Where the tmpfiles.d entry goes")
set(PURGEQ_BASH_COMPLETIONDIR "${CMAKE_INSTALL_FULL_DATADIR}/bash-completion/completions" CACHE PATH
    "Where the bash completion goes")
set(PURGEQ_ZSH_COMPLETIONDIR "${CMAKE_INSTALL_FULL_DATADIR}/zsh/vendor-completions" CACHE PATH
    "Where the zsh completion goes (Debian's zsh reads vendor-completions; upstream zsh site-functions)")
option(PURGEQ_INSTALL_CONFIG
       "Install purgeq.yaml to SYSCONFDIR/purgeq (never overwrites an existing one)" ON)

set(PURGEQ_CONFIG_DIR "${CMAKE_INSTALL_FULL_SYSCONFDIR}/purgeq")

install(TARGETS purgeqd purgeq purgeq-hookd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

# Units: the paths of the binaries and the config come from the install prefix.
foreach(unit purgeq.service purgeq.socket purgeq-hookd.service purgeq-hookd.socket)
  configure_file(${CMAKE_SOURCE_DIR}/systemd/${unit}.in ${CMAKE_BINARY_DIR}/systemd/${unit} @ONLY)
  install(FILES ${CMAKE_BINARY_DIR}/systemd/${unit} DESTINATION ${PURGEQ_SYSTEMD_UNITDIR})
endforeach()
install(FILES systemd/purgeq.sysusers DESTINATION ${PURGEQ_SYSUSERSDIR} RENAME purgeq.conf)
install(FILES systemd/purgeq.tmpfiles DESTINATION ${PURGEQ_TMPFILESDIR} RENAME purgeq.conf)

# The config: 0640, so only root and (after the group is set, see docs/operations.md) the service
# read it. A source install leaves an existing, edited config alone; the Debian package ships it
# as a conffile and dpkg asks before replacing an edited one.
if(PURGEQ_INSTALL_CONFIG)
  # (file(INSTALL) puts DESTDIR in front by itself.)
  install(CODE "
    if(EXISTS \"${PURGEQ_CONFIG_DIR}/purgeq.yaml\" AND \"\$ENV{DESTDIR}\" STREQUAL \"\")
      message(STATUS \"Keeping existing: ${PURGEQ_CONFIG_DIR}/purgeq.yaml\")
    else()
      file(INSTALL \"${CMAKE_SOURCE_DIR}/config/purgeq.yaml\" DESTINATION \"${PURGEQ_CONFIG_DIR}\"
           FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ)
    endif()")
endif()

# Documentation and examples: every document, since the shipped config, the man pages and the
# documents themselves point to one another by name (docs/scale-out.md, docs/benchmarks.md, ...);
# scripts/test-package.sh checks that each one pointed to is in the package.
file(GLOB PURGEQ_DOCS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES README.md ${PURGEQ_DOCS} DESTINATION ${CMAKE_INSTALL_DOCDIR})

# The PHP client and the WordPress plugin (docs/wordpress.md), for sites to link or copy. The
# plugin's lib/ is a relative link to the client, installed as a link: one copy of the client.
install(DIRECTORY integrations/php integrations/wordpress
        DESTINATION ${CMAKE_INSTALL_DATADIR}/purgeq/integrations)
# The Grafana dashboard and the Prometheus alert rules (docs/operations.md, "Metrics and alerts").
install(FILES monitoring/purgeq-dashboard.json DESTINATION ${CMAKE_INSTALL_DATADIR}/purgeq/grafana)
install(FILES monitoring/purgeq-alerts.yml DESTINATION ${CMAKE_INSTALL_DATADIR}/purgeq/prometheus)
install(FILES config/purgeq.yaml config/purgeq.dev.yaml
        DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples)

# Shell completion.
install(FILES completion/purgeq.bash DESTINATION ${PURGEQ_BASH_COMPLETIONDIR} RENAME purgeq)
install(FILES completion/_purgeq DESTINATION ${PURGEQ_ZSH_COMPLETIONDIR})

# Man pages, from docs/man/*.scd, when scdoc is there (the Debian package build-depends on it).
find_program(SCDOC scdoc)
if(SCDOC)
  set(_purgeq_man_pages purgeq.1 purgeqd.8 purgeq-hookd.8 purgeq.yaml.5)
  set(_purgeq_man_outputs)
  foreach(page ${_purgeq_man_pages})
    string(REGEX REPLACE ".*\\.([0-9])$" "\\1" section ${page})
    set(out ${CMAKE_BINARY_DIR}/man/${page})
    add_custom_command(
      OUTPUT ${out}
      COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/man
      COMMAND ${SCDOC} < ${CMAKE_SOURCE_DIR}/docs/man/${page}.scd > ${out}
      DEPENDS ${CMAKE_SOURCE_DIR}/docs/man/${page}.scd
      COMMENT "scdoc ${page}"
      VERBATIM)
    list(APPEND _purgeq_man_outputs ${out})
    install(FILES ${out} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${section})
  endforeach()
  add_custom_target(purgeq_man ALL DEPENDS ${_purgeq_man_outputs})
else()
  message(STATUS "scdoc not found: man pages (docs/man/*.scd) will not be built or installed")
endif()
