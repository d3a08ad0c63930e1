// SPDX-License-Identifier: GPL-2.0-or-later
// Pins amazon-ec2-metadata-mock, the IMDS emulator of the test lab.
// scripts/check builds it: go build -o ../bin/ec2-metadata-mock github.com/aws/amazon-ec2-metadata-mock/cmd
module vpcroute.test/tools/aemm

go 1.22

require github.com/aws/amazon-ec2-metadata-mock v1.12.0
