package plugins

import (
	"fmt"
	"strings"
	"testing"

	pb "github.com/causalrec/causalrec/proto/causalrec/plugin/v1"
)

func TestProtocolVersionMatchesProto(t *testing.T) {
	pkg := string(pb.File_causalrec_plugin_v1_plugin_proto.Package())
	want := fmt.Sprintf(".v%d", ProtocolVersion)
	if !strings.HasSuffix(pkg, want) {
		t.Fatalf("proto package %q does not end in %q: ProtocolVersion and the proto disagree", pkg, want)
	}
	if Handshake.ProtocolVersion != ProtocolVersion {
		t.Fatalf("handshake protocol %d, want %d", Handshake.ProtocolVersion, ProtocolVersion)
	}
	if _, ok := VersionedPlugins(Set{clientSide: true})[ProtocolVersion]; !ok {
		t.Fatalf("no plugin set for protocol %d", ProtocolVersion)
	}
}
