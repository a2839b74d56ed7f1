"""The reflect2 fix that kube-apiserver 1.20's vendor tree needs to be built with Go >= 1.18.

Takes a Kubernetes source tree; edits two vendored files and adds two, or raises when the files are
not the known v1.0.1 text. Must not touch anything outside `vendor/github.com/modern-go/reflect2`.
"""

from __future__ import annotations

import re
from pathlib import Path

from specc.testing.controlplane.errors import ControlPlaneError
from specc.testing.controlplane.locations import ENV_APISERVER

# Kubernetes 1.20 vendors github.com/modern-go/reflect2 v1.0.1, which links to reflect.mapiterinit
# with its pre-Go-1.18 signature (returning a *hiter). Built with Debian bookworm's Go 1.19, the
# apiserver then dies with SIGSEGV ("unexpected fault address 0x0" in aeshashbody) whenever
# json-iterator walks a map, e.g. on the first create of any custom resource. reflect2 v1.0.2 fixed
# it by passing a caller-allocated, full-size hiter; these edits are exactly that fix.
_REFLECT2_DIR = "vendor/github.com/modern-go/reflect2"
_REFLECT2_OLD_MAPITERINIT = """// m escapes into the return value, but the caller of mapiterinit
// doesn't let the return value escape.
//go:noescape
//go:linkname mapiterinit reflect.mapiterinit
func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer) *hiter

"""
# Matched loosely: its field comments are longer than this file's line limit.
_REFLECT2_OLD_HITER = re.compile(
    r"type hiter struct \{\n\tkey +unsafe\.Pointer[^\n]*\n\tvalue +unsafe\.Pointer[^\n]*\n"
    r"\t// rest fields are ignored\n\}\n"
)
# The Go 1.18/1.19 runtime's hiter layout (bookworm ships 1.19): the caller now allocates it, so
# it must be full size; the pointer fields keep the GC scanning it correctly.
_REFLECT2_NEW_HITER = """type hiter struct {
	key         unsafe.Pointer
	value       unsafe.Pointer
	t           unsafe.Pointer
	h           unsafe.Pointer
	buckets     unsafe.Pointer
	bptr        unsafe.Pointer
	overflow    *[]unsafe.Pointer
	oldoverflow *[]unsafe.Pointer
	startBucket uintptr
	offset      uint8
	wrapped     bool
	B           uint8
	i           uint8
	bucket      uintptr
	checkBucket uintptr
}
"""
_REFLECT2_OLD_ITERATE = """func (type2 *UnsafeMapType) UnsafeIterate(obj unsafe.Pointer) MapIterator {
	return &UnsafeMapIterator{
		hiter:      mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj)),
		pKeyRType:  type2.pKeyRType,
		pElemRType: type2.pElemRType,
	}
}
"""
_REFLECT2_GO118_FILES = {
    "go_above_118.go": """//go:build go1.18
// +build go1.18

package reflect2

import (
	"unsafe"
)

//go:noescape
//go:linkname mapiterinit reflect.mapiterinit
func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer, it *hiter)

func (type2 *UnsafeMapType) UnsafeIterate(obj unsafe.Pointer) MapIterator {
	var it hiter
	mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj), &it)
	return &UnsafeMapIterator{
		hiter:      &it,
		pKeyRType:  type2.pKeyRType,
		pElemRType: type2.pElemRType,
	}
}
""",
    "go_below_118.go": """//go:build !go1.18
// +build !go1.18

package reflect2

import (
	"unsafe"
)

// m escapes into the return value, but the caller of mapiterinit
// doesn't let the return value escape.
//go:noescape
//go:linkname mapiterinit reflect.mapiterinit
func mapiterinit(rtype unsafe.Pointer, m unsafe.Pointer) *hiter

func (type2 *UnsafeMapType) UnsafeIterate(obj unsafe.Pointer) MapIterator {
	return &UnsafeMapIterator{
		hiter:      mapiterinit(type2.rtype, *(*unsafe.Pointer)(obj)),
		pKeyRType:  type2.pKeyRType,
		pElemRType: type2.pElemRType,
	}
}
""",
}


def patch_reflect2_for_go118(tree: Path) -> bool:
    """Apply reflect2 v1.0.2's Go 1.18 map-iteration fix to a Kubernetes source tree's vendor dir.

    Returns False when the tree already has it. Raises when the vendored files are neither the
    known v1.0.1 text nor already fixed, since building anyway would yield a crashing apiserver.
    """
    reflect2 = tree / _REFLECT2_DIR
    if (reflect2 / "go_above_118.go").exists():
        return False
    link, unsafe_map = reflect2 / "unsafe_link.go", reflect2 / "unsafe_map.go"
    link_text, map_text = link.read_text(), unsafe_map.read_text()
    known = (link_text.count(_REFLECT2_OLD_MAPITERINIT) == 1 and map_text.count(_REFLECT2_OLD_ITERATE) == 1
             and len(_REFLECT2_OLD_HITER.findall(link_text)) == 1)
    if not known:
        raise ControlPlaneError(
            f"{reflect2} is not the reflect2 v1.0.1 this build knows how to fix for Go >= 1.18; "
            f"set ${ENV_APISERVER} to a working kube-apiserver 1.20 instead"
        )
    link_text = link_text.replace(_REFLECT2_OLD_MAPITERINIT, "")
    link.write_text(_REFLECT2_OLD_HITER.sub(lambda _match: _REFLECT2_NEW_HITER, link_text))
    unsafe_map.write_text(map_text.replace(_REFLECT2_OLD_ITERATE, ""))
    for name, content in _REFLECT2_GO118_FILES.items():
        (reflect2 / name).write_text(content)
    return True


