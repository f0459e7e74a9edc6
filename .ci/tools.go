//go:build tools

package tools
import (
 _ "github.com/hashicorp/hcl/v2"
 _ "github.com/zclconf/go-cty/cty"
 _ "github.com/melbahja/goph"
 _ "github.com/sourcegraph/conc"
 _ "github.com/spf13/cobra"
 _ "github.com/skeema/knownhosts"
 _ "al.essio.dev/pkg/shellescape"
 _ "github.com/aymanbagabas/go-udiff"
 _ "github.com/rogpeppe/go-internal/testscript"
 _ "github.com/hashicorp/go-cty-funcs/filesystem"
 _ "github.com/zclconf/go-cty-yaml"
 _ "golang.org/x/term"
)
