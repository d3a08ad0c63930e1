// SPDX-License-Identifier: GPL-2.0-or-later
#include "config.h"

#include <stdlib.h>

#include "unit.h"

#include "ec2xml.h"

static char *slurp(const char *name, size_t *len)
{
	const char *top = getenv("top_srcdir");
	char path[512], *buf;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/unit/data/ec2/%s", top ? top : ".", name);
	f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: cannot open", path);
	buf = calloc(1, 1 << 16);
	*len = fread(buf, 1, (1 << 16) - 1, f);
	fclose(f);
	return buf;
}

static void test_route_tables_from_moto(void **state)
{
	size_t len, n;
	char *buf = slurp("describe-route-tables.xml", &len), next[64], err[EC2_ERRLEN],
	     s[PFX_STRLEN];
	struct ec2_rtb *t;

	assert_int_equal(
		ec2_parse_route_tables(buf, len, &t, &n, next, sizeof(next), err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(t[0].id, "rtb-a527b9adffaf4735a");
	assert_string_equal(t[0].vpc, "vpc-19f881dff7a85df2e");
	assert_false(t[0].main);
	assert_int_equal(t[0].nsubnets, 1);
	assert_string_equal(t[0].subnets[0], "subnet-16192c5145876b971");
	assert_int_equal(t[0].nroutes, 3);
	assert_string_equal(pfx_format(&t[0].routes[0].dst, s, sizeof(s)), "10.1.0.0/16");
	assert_string_equal(t[0].routes[0].kind, "gatewayId");
	assert_string_equal(t[0].routes[0].target, "local");
	assert_string_equal(t[0].routes[1].kind, "networkInterfaceId");
	assert_string_equal(t[0].routes[1].target, "eni-5a0620cbf061bbaeb");
	assert_string_equal(t[0].routes[1].state, "active");
	assert_string_equal(t[0].routes[1].origin, "CreateRoute");
	assert_string_equal(pfx_format(&t[0].routes[2].dst, s, sizeof(s)), "2001:db8:1::/48");
	assert_string_equal(t[0].routes[2].state, "blackhole");
	assert_string_equal(next, "page-2");
	ec2_rtbs_free(t, n);
	free(buf);
}

static void test_small_answers(void **state)
{
	size_t len;
	char *buf, err[EC2_ERRLEN];
	struct ec2_error e;
	bool on = false;

	buf = slurp("describe-sdc.xml", &len);
	assert_int_equal(ec2_parse_source_dest_check(buf, len, &on, err, sizeof(err)), 0);
	assert_true(on);
	assert_int_equal(ec2_parse_error(buf, len, &e), 0);
	free(buf);
	buf = slurp("create-route.xml", &len);
	assert_int_equal(ec2_parse_return(buf, len, "CreateRoute", err, sizeof(err)), 0);
	assert_int_equal(ec2_parse_return(buf, len, "DeleteRoute", err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "expected a DeleteRouteResponse document"));
	free(buf);
	buf = slurp("error.xml", &len);
	assert_int_equal(ec2_parse_error(buf, len, &e), 1);
	assert_string_equal(e.code, "InvalidRoute.NotFound");
	assert_non_null(strstr(e.message, "10.9.0.0/16"));
	assert_int_equal(ec2_parse_return(buf, len, "CreateRoute", err, sizeof(err)), -EINVAL);
	free(buf);
}

#define RT_HEAD "<DescribeRouteTablesResponse><routeTableSet><item>"
#define RT_TAIL "</item></routeTableSet></DescribeRouteTablesResponse>"

static void expect_bad(const char *xml, const char *needle)
{
	char next[64], err[EC2_ERRLEN] = "";
	struct ec2_rtb *t = (struct ec2_rtb *)1;
	size_t n = 7;

	assert_int_equal(ec2_parse_route_tables(xml, strlen(xml), &t, &n, next, sizeof(next), err,
						sizeof(err)),
			 -EINVAL);
	assert_null(t);
	assert_int_equal(n, 0);
	if (!strstr(err, needle))
		fail_msg("\"%s\" lacks \"%s\"", err, needle);
}

static void test_rejects(void **state)
{
	char err[EC2_ERRLEN];
	bool on;

	expect_bad("", "not XML");
	expect_bad("<html><body>Gateway Timeout</body></html>", "unexpected answer <html>");
	expect_bad("<DescribeRouteTablesResponse><routeTableSet><item>", "not XML");
	expect_bad(RT_HEAD "<vpcId>vpc-1</vpcId>" RT_TAIL, "without routeTableId");
	expect_bad(RT_HEAD "<routeTableId>rtb 1; rm -rf</routeTableId>" RT_TAIL,
		   "routeTableId is not an AWS id");
	expect_bad(RT_HEAD
		   "<routeTableId>rtb-1</routeTableId><routeSet><item><destinationCidrBlock>"
		   "10.1.0.1/16</destinationCidrBlock><gatewayId>local</gatewayId></item>"
		   "</routeSet>" RT_TAIL,
		   "host bits set");
	expect_bad(RT_HEAD "<routeTableId>rtb-1</routeTableId><routeSet><item><gatewayId>igw-1"
			   "</gatewayId></item></routeSet>" RT_TAIL,
		   "without a destination");
	expect_bad(RT_HEAD
		   "<routeTableId>rtb-1</routeTableId><routeSet><item><destinationCidrBlock>"
		   "0.0.0.0/0</destinationCidrBlock><gatewayId>igw 1</gatewayId></item>"
		   "</routeSet>" RT_TAIL,
		   "gatewayId is not an AWS id");
	/* entities are not expanded, external ones not fetched */
	expect_bad("<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
		   "<DescribeRouteTablesResponse><routeTableSet><item><routeTableId>&x;"
		   "</routeTableId></item></routeTableSet></DescribeRouteTablesResponse>",
		   "routeTableId is not an AWS id");
	const char *maybe =
		"<DescribeNetworkInterfaceAttributeResponse><sourceDestCheck><value>"
		"maybe</value></sourceDestCheck></DescribeNetworkInterfaceAttributeResponse>";
	const char *no = "<CreateRouteResponse><return>false</return></CreateRouteResponse>";

	assert_int_equal(ec2_parse_source_dest_check(maybe, strlen(maybe), &on, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "no true/false answer"));
	const char *empty = "<ModifyNetworkInterfaceAttributeResponse><requestId>r</requestId>"
			    "</ModifyNetworkInterfaceAttributeResponse>";

	assert_int_equal(ec2_parse_return(no, strlen(no), "CreateRoute", err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "CreateRouteResponse returned false"));
	/* moto answers ModifyNetworkInterfaceAttribute without <return> */
	assert_int_equal(ec2_parse_return(empty, strlen(empty), "ModifyNetworkInterfaceAttribute",
					  err, sizeof(err)),
			 0);
}

static void test_prefix_list_routes_skipped(void **state)
{
	const char *xml =
		RT_HEAD "<routeTableId>rtb-1</routeTableId><routeSet><item>"
			"<destinationPrefixListId>pl-1</destinationPrefixListId><gatewayId>vpce-1"
			"</gatewayId></item></routeSet>" RT_TAIL;
	char next[64], err[EC2_ERRLEN];
	struct ec2_rtb *t;
	size_t n;

	assert_int_equal(ec2_parse_route_tables(xml, strlen(xml), &t, &n, next, sizeof(next), err,
						sizeof(err)),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(t[0].nroutes, 0);
	ec2_rtbs_free(t, n);
}

/* The ENI's security groups and their inbound rules, as moto answers. */
static void test_security_groups(void **state)
{
	char ids[EC2_MAX_GROUPS][EC2_ID_MAX], err[EC2_ERRLEN];
	struct ec2_perm *p;
	size_t len, n;
	char *buf = slurp("describe-groupset.xml", &len);
	const char *bad_port = "<DescribeSecurityGroupsResponse><securityGroupInfo><item>"
			       "<ipPermissions><item><ipProtocol>udp</ipProtocol><fromPort>70000"
			       "</fromPort><toPort>1</toPort></item></ipPermissions></item>"
			       "</securityGroupInfo></DescribeSecurityGroupsResponse>";
	const char *all = "<DescribeSecurityGroupsResponse><securityGroupInfo><item><ipPermissions>"
			  "<item><ipProtocol>-1</ipProtocol></item></ipPermissions></item>"
			  "</securityGroupInfo></DescribeSecurityGroupsResponse>";
	const char *ipsec =
		"<DescribeSecurityGroupsResponse><securityGroupInfo><item><groupId>sg-1a</groupId>"
		"<ipPermissions><item><ipProtocol>50</ipProtocol><ipRanges><item><cidrIp>"
		"203.0.113.0/24</cidrIp></item></ipRanges></item><item><ipProtocol>udp</ipProtocol>"
		"<fromPort>4500</fromPort><toPort>4500</toPort><ipRanges><item><cidrIp>"
		"203.0.113.7/32</cidrIp></item></ipRanges><ipv6Ranges><item><cidrIpv6>2001:db8::/32"
		"</cidrIpv6></item></ipv6Ranges></item><item><ipProtocol>udp</ipProtocol><fromPort>"
		"500</fromPort><toPort>500</toPort><groups><item><groupId>sg-2b</groupId></item>"
		"</groups></item></ipPermissions></item></securityGroupInfo>"
		"</DescribeSecurityGroupsResponse>";
	const char *bad_src =
		"<DescribeSecurityGroupsResponse><securityGroupInfo><item><ipPermissions><item>"
		"<ipProtocol>udp</ipProtocol><ipRanges><item><cidrIp>203.0.113.7/33</cidrIp></item>"
		"</ipRanges></item></ipPermissions></item></securityGroupInfo>"
		"</DescribeSecurityGroupsResponse>";
	struct pfx from;

	assert_int_equal(ec2_parse_group_set(buf, len, ids, EC2_MAX_GROUPS, &n, err, sizeof(err)),
			 0);
	assert_int_equal(n, 1);
	assert_string_equal(ids[0], "sg-db6b4b146ff9614f8");
	assert_int_equal(ec2_parse_group_set(buf, len, ids, 0, &n, err, sizeof(err)), -EINVAL);
	assert_non_null(strstr(err, "more than 0 security groups"));
	assert_int_equal(n, 0);
	free(buf);

	buf = slurp("describe-security-groups.xml", &len);
	assert_int_equal(ec2_parse_ingress(buf, len, &p, &n, err, sizeof(err)), 0);
	/* the egress rule is not an inbound one */
	assert_int_equal(n, 2);
	assert_string_equal(p[0].proto, "udp");
	assert_int_equal(p[0].from, 1194);
	assert_true(ec2_perm_allows(&p[0], "udp", 1194, NULL));
	assert_false(ec2_perm_allows(&p[0], "tcp", 1194, NULL));
	assert_false(ec2_perm_allows(&p[0], "udp", 1195, NULL));
	assert_true(ec2_perm_allows(&p[1], "tcp", 22, NULL));
	/* each rule's group and address sources */
	assert_string_equal(p[0].group, "sg-db6b4b146ff9614f8");
	assert_int_equal(p[0].src.n, 1);
	assert_false(p[0].other_src);
	assert_int_equal(pfx_addr_parse("203.0.113.7", &from), 0);
	assert_true(ec2_perm_allows(&p[0], "udp", 1194, &from));
	assert_int_equal(pfx_addr_parse("198.51.100.1", &from), 0);
	assert_false(ec2_perm_allows(&p[0], "udp", 1194, &from));
	assert_true(ec2_perm_allows(&p[1], "tcp", 22, &from));
	ec2_perms_free(p, n);
	assert_int_equal(ec2_parse_group_set(buf, len, ids, EC2_MAX_GROUPS, &n, err, sizeof(err)),
			 -EINVAL);
	free(buf);

	assert_int_equal(ec2_parse_ingress(bad_port, strlen(bad_port), &p, &n, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "bad port"));
	assert_null(p);
	assert_int_equal(ec2_parse_ingress(all, strlen(all), &p, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_true(ec2_perm_allows(&p[0], "udp", 1194, NULL) &&
		    ec2_perm_allows(&p[0], "tcp", 443, NULL));
	/* numbers for protocols, as the API also gives them */
	snprintf(p[0].proto, sizeof(p[0].proto), "17");
	assert_true(ec2_perm_allows(&p[0], "udp", 1194, NULL));
	assert_false(ec2_perm_allows(&p[0], "tcp", 1194, NULL));
	ec2_perms_free(p, n);

	/* IPsec's needs: ESP by number, sources of both families, a group
	 * source that matches no address */
	assert_int_equal(ec2_parse_ingress(ipsec, strlen(ipsec), &p, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_int_equal(pfx_addr_parse("203.0.113.7", &from), 0);
	assert_true(ec2_perm_allows(&p[0], "esp", 0, &from));
	assert_false(ec2_perm_allows(&p[0], "udp", 500, &from));
	assert_true(ec2_perm_allows(&p[1], "udp", 4500, &from));
	assert_false(ec2_perm_allows(&p[1], "udp", 500, &from));
	assert_int_equal(pfx_addr_parse("2001:db8::7", &from), 0);
	assert_true(ec2_perm_allows(&p[1], "udp", 4500, &from));
	assert_true(p[2].other_src);
	assert_false(ec2_perm_allows(&p[2], "udp", 500, &from));
	assert_true(ec2_perm_allows(&p[2], "udp", 500, NULL));
	ec2_perms_free(p, n);
	assert_int_equal(ec2_parse_ingress(bad_src, strlen(bad_src), &p, &n, err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "bad cidrIp"));
	assert_null(p);
}

/* DescribeNetworkInterfaces (aws.cluster): sorted by id, attachment read. */
static void test_network_interfaces(void **state)
{
	char err[EC2_ERRLEN], next[64];
	struct ec2_eni *v;
	size_t len, n;
	char *buf = slurp("describe-network-interfaces.xml", &len);
	const char *twice = "<DescribeNetworkInterfacesResponse><networkInterfaceSet>"
			    "<item><networkInterfaceId>eni-1</networkInterfaceId></item>"
			    "<item><networkInterfaceId>eni-1</networkInterfaceId></item>"
			    "</networkInterfaceSet></DescribeNetworkInterfacesResponse>";
	const char *bad_id = "<DescribeNetworkInterfacesResponse><networkInterfaceSet>"
			     "<item><networkInterfaceId>eni-1</networkInterfaceId><attachment>"
			     "<instanceId>i-1&lt;x</instanceId></attachment></item>"
			     "</networkInterfaceSet></DescribeNetworkInterfacesResponse>";
	const char *none = "<DescribeNetworkInterfacesResponse><networkInterfaceSet/>"
			   "<nextToken>t2</nextToken></DescribeNetworkInterfacesResponse>";

	(void)state;
	assert_int_equal(ec2_parse_network_interfaces(buf, len, &v, &n, next, sizeof(next), err,
						      sizeof(err)),
			 0);
	assert_int_equal(n, 2);
	assert_string_equal(next, "");
	assert_string_equal(v[0].id, "eni-0aaaabbbbccccdddd");
	assert_string_equal(v[0].status, "available");
	assert_string_equal(v[0].az, "us-east-1b");
	assert_string_equal(v[0].instance, "");
	assert_string_equal(v[0].attach_status, "");
	assert_string_equal(v[1].id, "eni-9f371a141526c8651");
	assert_string_equal(v[1].status, "in-use");
	assert_string_equal(v[1].instance, "i-59e101d5f6529339a");
	assert_string_equal(v[1].attach_status, "attached");
	assert_string_equal(v[1].mac, "02:00:00:a9:32:4f");
	assert_string_equal(v[0].mac, "02:00:00:11:22:33");
	assert_true(strncmp(v[1].attachment, "eni-attach-", 11) == 0);
	assert_string_equal(v[1].az, "us-east-1a");
	assert_ptr_equal(ec2_eni_find(v, n, "eni-9f371a141526c8651"), &v[1]);
	assert_null(ec2_eni_find(v, n, "eni-9"));
	free(v);
	free(buf);

	assert_int_equal(ec2_parse_network_interfaces(twice, strlen(twice), &v, &n, next,
						      sizeof(next), err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "eni-1 twice"));
	assert_null(v);
	assert_int_equal(ec2_parse_network_interfaces(bad_id, strlen(bad_id), &v, &n, next,
						      sizeof(next), err, sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "instanceId is not an AWS id"));
	assert_int_equal(ec2_parse_network_interfaces(none, strlen(none), &v, &n, next,
						      sizeof(next), err, sizeof(err)),
			 0);
	assert_int_equal(n, 0);
	assert_string_equal(next, "t2");
	assert_int_equal(ec2_parse_network_interfaces("<x/>", 4, &v, &n, next, sizeof(next), err,
						      sizeof(err)),
			 -EINVAL);
	assert_non_null(strstr(err, "unexpected answer <x>"));
}

/* DescribeInstances (aws.interface): the state of the instance asked about. */
static void test_instance_state(void **state)
{
	char err[EC2_ERRLEN], st[24];
	size_t len;
	char *buf = slurp("describe-instances.xml", &len);
	const char *bad = "<DescribeInstancesResponse><reservationSet><item><instancesSet><item>"
			  "<instanceId>i-1</instanceId><instanceState><name>Run ning</name>"
			  "</instanceState></item></instancesSet></item></reservationSet>"
			  "</DescribeInstancesResponse>";

	(void)state;
	assert_int_equal(ec2_parse_instance_state(buf, len, "i-872d0ef95c6472c22", st, sizeof(st),
						  err, sizeof(err)),
			 0);
	assert_string_equal(st, "running");
	assert_int_equal(ec2_parse_instance_state(buf, len, "i-a9542b2705ee8b1c9", st, sizeof(st),
						  err, sizeof(err)),
			 0);
	assert_string_equal(st, "stopped");
	assert_int_equal(
		ec2_parse_instance_state(buf, len, "i-0", st, sizeof(st), err, sizeof(err)),
		-ENOENT);
	assert_non_null(strstr(err, "i-0 is not in the answer"));
	free(buf);
	assert_int_equal(
		ec2_parse_instance_state(bad, strlen(bad), "i-1", st, sizeof(st), err, sizeof(err)),
		-EINVAL);
	assert_string_equal(st, "");
	assert_int_equal(
		ec2_parse_instance_state("<a/>", 4, "i-1", st, sizeof(st), err, sizeof(err)),
		-EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_route_tables_from_moto),
		cmocka_unit_test(test_small_answers),
		cmocka_unit_test(test_rejects),
		cmocka_unit_test(test_prefix_list_routes_skipped),
		cmocka_unit_test(test_security_groups),
		cmocka_unit_test(test_network_interfaces),
		cmocka_unit_test(test_instance_state),
	};

	return cmocka_run_group_tests_name("ec2xml", tests, NULL, NULL);
}
