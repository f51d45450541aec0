// Package standalone checks that the repository stands alone: nothing in it
// reads, cites or depends on files outside the clone, so a user's clone, a
// fork, a release tarball or a Go module download builds, tests and demos
// the same as a developer's checkout.
package standalone
