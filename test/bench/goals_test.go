package bench

import "fmt"

// goal prints a goal of issue 18 with what this run measured, as a row of
// the table make bench ends with (lines "goal: "). Nothing fails on a goal
// not met: it is printed as such.
func goal(what, target, measured string, met bool) {
	verdict := "not met"
	if met {
		verdict = "met"
	}
	fmt.Printf("goal: | %s | %s | %s | %s |\n", what, target, measured, verdict)
}
