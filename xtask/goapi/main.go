// Command goapi prints the exported API of Go packages as the compiler
// sees it for one GOOS: one sorted line per exported constant, variable,
// function, type, struct field and method, with the method sets of every
// exported type T and *T (promoted methods and the methods of alias
// targets included). The go lane's api step compares its output for
// GOOS=linux and GOOS=windows.
//
//	goapi -goos windows -dir MODULE_DIR IMPORT_PATH...
package main

import (
	"flag"
	"fmt"
	"go/build"
	"go/importer"
	"go/token"
	"go/types"
	"os"
	"sort"
	"strings"
)

func main() {
	goos := flag.String("goos", build.Default.GOOS, "the GOOS to type-check the packages for")
	dir := flag.String("dir", ".", "the directory the import paths are resolved from (the module's)")
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: goapi [-goos GOOS] [-dir DIR] IMPORT_PATH...")
		os.Exit(2)
	}
	// The source importer selects files with go/build's default context.
	build.Default.GOOS = *goos
	build.Default.CgoEnabled = false
	// In module mode, Dir locates the main module.
	build.Default.Dir = *dir
	imp := importer.ForCompiler(token.NewFileSet(), "source", nil).(types.ImporterFrom)
	failed := false
	for _, path := range flag.Args() {
		pkg, err := imp.ImportFrom(path, *dir, 0)
		if err != nil {
			fmt.Fprintf(os.Stderr, "goapi: %s (GOOS=%s): %v\n", path, *goos, err)
			failed = true
			continue
		}
		for _, line := range api(pkg) {
			fmt.Println(line)
		}
	}
	if failed {
		os.Exit(1)
	}
}

// api returns the lines of pkg's exported API, sorted.
func api(pkg *types.Package) []string {
	qualify := func(other *types.Package) string {
		if other == pkg {
			return ""
		}
		return other.Path()
	}
	prefix := "pkg " + pkg.Path() + ", "
	var lines []string
	add := func(format string, args ...any) {
		lines = append(lines, prefix+fmt.Sprintf(format, args...))
	}
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch obj := obj.(type) {
		case *types.Const:
			add("const %s %s = %s", name, types.TypeString(obj.Type(), qualify), obj.Val().ExactString())
		case *types.Var:
			add("var %s %s", name, types.TypeString(obj.Type(), qualify))
		case *types.Func:
			add("func %s%s", name, strings.TrimPrefix(types.TypeString(obj.Type(), qualify), "func"))
		case *types.TypeName:
			typeLines(name, obj, qualify, add)
		}
	}
	sort.Strings(lines)
	return lines
}

// typeLines adds the lines of the exported type name: its definition
// (for structs, the exported fields; for interfaces, the methods), and
// the method sets of the type and of its pointer.
func typeLines(name string, obj *types.TypeName, qualify types.Qualifier, add func(string, ...any)) {
	typ := obj.Type()
	if obj.IsAlias() {
		add("type %s = %s", name, types.TypeString(types.Unalias(typ), qualify))
	}
	switch u := typ.Underlying().(type) {
	case *types.Struct:
		add("type %s struct", name)
		for i := 0; i < u.NumFields(); i++ {
			f := u.Field(i)
			if !f.Exported() {
				continue
			}
			embedded := ""
			if f.Embedded() {
				embedded = ", embedded"
			}
			add("type %s struct, %s %s%s", name, f.Name(), types.TypeString(f.Type(), qualify), embedded)
		}
	case *types.Interface:
		add("type %s interface", name)
	default:
		add("type %s %s", name, types.TypeString(u, qualify))
	}
	for _, recv := range []types.Type{typ, types.NewPointer(typ)} {
		if _, ok := typ.Underlying().(*types.Interface); ok && recv != typ {
			continue // a pointer to an interface has no methods
		}
		set := types.NewMethodSet(recv)
		for i := 0; i < set.Len(); i++ {
			m := set.At(i).Obj()
			if !m.Exported() {
				continue
			}
			sig := strings.TrimPrefix(types.TypeString(m.Type(), qualify), "func")
			if _, ok := recv.(*types.Pointer); ok {
				add("method (*%s) %s%s", name, m.Name(), sig)
			} else {
				add("method (%s) %s%s", name, m.Name(), sig)
			}
		}
	}
}
