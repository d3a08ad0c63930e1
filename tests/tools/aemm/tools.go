// SPDX-License-Identifier: GPL-2.0-or-later

//go:build tools

// Package tools records the lab's Go tool dependency for go mod.
package tools

import _ "github.com/aws/amazon-ec2-metadata-mock/cmd"
